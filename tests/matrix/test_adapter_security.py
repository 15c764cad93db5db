"""Secrets stay secret, the store is private, and trio gets a clear refusal."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import anyio
import pytest
from unimsg_matrix import MatrixAdapter, MatrixConfig

from unimsg import (
    AuthenticationError,
    Client,
    ConfigError,
    MessageReceived,
    NotSupportedError,
    UsageError,
)
from unimsg._config import parse_config
from unimsg.testing._waiting import EventWaiter

from .fixtures_adapter import MakeAdapter, MakeUser, make_adapter, store_root

__all__ = ["make_adapter", "store_root"]


async def _opening_fails(client: Client) -> BaseException:
    """The error opening ``client`` raised, unwrapped from single-member groups."""
    try:
        async with client:
            pass
    except BaseException as exc:
        while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
            exc = exc.exceptions[0]
        return exc
    raise AssertionError("the client opened")


@pytest.mark.asyncio
async def test_no_secret_in_logs_reprs_or_errors(
    make_matrix_user: MakeUser,
    make_adapter: MakeAdapter,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    alice_user, bob_user = await make_matrix_user(), await make_matrix_user()
    adapter = MatrixAdapter(
        homeserver=alice_user.homeserver,
        user_id=alice_user.user_id,
        password=alice_user.password,
        store_path=tmp_path / "alice",
        sync_timeout_ms=2_000,
    )
    bob = make_adapter(bob_user)
    async with Client(adapter) as a, Client(bob) as b:
        room = await a.create_conversation(
            "matrix", name="secrets", members=[bob.account], encrypted=True
        )
        await b.join(room.address)
        await a.send(room.address, "psst")
        await EventWaiter(b, 15).next(MessageReceived, lambda e: e.text == "psst")
        stored_token = (tmp_path / "alice" / "state.json").read_text()
        texts = [repr(adapter), repr(adapter.config), repr(bob), repr(bob.config)]
    secrets = [alice_user.password, bob_user.access_token]
    secrets += [t for t in stored_token.split('"') if t.startswith("syt_")]
    assert len(secrets) == 3, "the state file should hold alice's new token"
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert logged, "nothing was logged at DEBUG"
    for secret in secrets:
        assert secret not in logged
        for text in texts:
            assert secret not in text
    assert "[secure]" in repr(adapter.config)

    wrong = MatrixAdapter(
        homeserver=alice_user.homeserver,
        user_id=alice_user.user_id,
        password="not-" + alice_user.password,
        store_path=tmp_path / "wrong",
    )
    failure = await _opening_fails(Client(wrong))
    assert isinstance(failure, AuthenticationError), repr(failure)
    assert alice_user.password not in str(failure)


@pytest.mark.asyncio
async def test_store_is_private(make_matrix_user: MakeUser, tmp_path: Path) -> None:
    user = await make_matrix_user()
    store = tmp_path / "store"
    adapter = MatrixAdapter(
        homeserver=user.homeserver,
        user_id=user.user_id,
        password=user.password,
        store_path=store,
    )
    async with Client(adapter):
        pass
    paths = [store, *store.rglob("*")]
    files = [p for p in paths if p.is_file()]
    assert any(p.suffix == ".db" for p in files), files
    assert (store / "state.json") in files
    for path in paths:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))


def test_trio_is_refused_clearly(tmp_path: Path) -> None:
    config = MatrixConfig(
        homeserver="http://127.0.0.1:9",
        user_id="@bot:example.org",
        password="hunter2",
        store_path=tmp_path,
    )
    adapter = MatrixAdapter(config)

    async def under_trio() -> None:
        with pytest.raises(NotSupportedError, match="asyncio"):
            MatrixAdapter(config)

        async def sink(_: object) -> None: ...

        with pytest.raises(NotSupportedError, match="asyncio"):
            await adapter.run(sink)
        failure = await _opening_fails(Client(adapter))
        assert isinstance(failure, NotSupportedError) and "asyncio" in str(failure)

    anyio.run(under_trio, backend="trio")


def test_config_validation_and_toml_table(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("UNIMSG_TEST_PASSWORD", "s3cret")
    adapter = MatrixAdapter.from_config(
        {
            "homeserver": "https://matrix.example.org/",
            "user_id": "@bot:example.org",
            "password_env": "UNIMSG_TEST_PASSWORD",
            "store_path": str(tmp_path),
            "invite_policy": ["@boss:example.org"],
            "trust_policy": "always",
        }
    )
    assert adapter.config.password == "s3cret"
    assert adapter.config.homeserver == "https://matrix.example.org"
    assert adapter.config.invite_policy == frozenset({"@boss:example.org"})
    assert "s3cret" not in repr(adapter.config)
    with pytest.raises(UsageError, match="password or an access_token"):
        MatrixConfig(homeserver="https://h", user_id="@a:h", store_path=tmp_path)
    with pytest.raises(UsageError, match="device_id"):
        MatrixConfig(homeserver="https://h", user_id="@a:h", access_token="t", store_path=tmp_path)
    with pytest.raises(UsageError, match="trust_policy"):
        MatrixConfig(
            homeserver="https://h",
            user_id="@a:h",
            password="p",
            store_path=tmp_path,
            trust_policy="maybe",
        )
    with pytest.raises(UsageError, match="not set"):
        MatrixAdapter.from_config(
            {
                "homeserver": "https://h",
                "user_id": "@a:h",
                "password_env": "NOPE_NOT_SET",
                "store_path": str(tmp_path),
            }
        )
    with pytest.raises(ConfigError) as raised:
        MatrixAdapter.from_config(
            {
                "homeserver": "https://h",
                "user_id": "@a:h",
                "password": "p",
                "store_path": str(tmp_path),
                "sync_timeout_ms": "30s",
                "trust_polcy": "always",
            }
        )
    assert raised.value.lines() == [
        "password: secrets do not belong in the file: name the environment variable that "
        'holds it, e.g. password_env = "UNIMSG_PASSWORD"',
        "sync_timeout_ms: expected an integer, got '30s'",
        "trust_polcy: unknown key (did you mean 'trust_policy'?)",
    ]
    with pytest.raises(UsageError, match="MatrixConfig has no setting 'pasword'"):
        MatrixAdapter(  # type: ignore[call-arg]
            homeserver="https://h", user_id="@a:h", pasword="p", store_path=tmp_path
        )

    parsed = parse_config(
        {
            "adapters": [
                {
                    "type": "matrix",
                    "homeserver": "https://matrix.example.org",
                    "user_id": "@bot:example.org",
                    "password_env": "UNIMSG_TEST_PASSWORD",
                    "store_path": "state/matrix",
                }
            ]
        },
        base_dir=tmp_path,
    )
    (from_file,) = parsed.adapters
    assert isinstance(from_file, MatrixAdapter)
    assert from_file.config.store_path == tmp_path / "state" / "matrix"
