"""Scenario 7: nothing secret leaks, with every logger at DEBUG, and state files are private.

Complements tests/matrix/test_adapter_security.py and the Signal fault tests:
here a whole session runs (password login, encrypted exchange, a restart from
the store, typed failures) and every captured log record, every repr of what
the application holds and every exception message is searched for every
secret: passwords, access tokens (the one the login created and those given in
configuration), the homeserver's registration shared secret, HTTP credentials.
"""

from __future__ import annotations

import json
import logging
import stat
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import anyio
import pytest
from unimsg_matrix import MatrixAdapter
from unimsg_signal import SignalAdapter
from unimsg_signal.emulator import Daemon, EmulatedNetwork, ReceiveMode, serve_http

from tests.matrix.fixtures_adapter import adapter_for
from tests.matrix.synapse import MakeUser, SynapseInstance
from unimsg import Address, Client, Event, MessageReceived, UnimsgError
from unimsg.testing import EventWaiter

from .conftest import Figures

ALICE, BOB = "+15550000001", "+15550000002"


def _formatted(records: Iterable[logging.LogRecord]) -> str:
    # The full rendering, tracebacks included: exc_info can carry a secret too.
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return "\n".join(formatter.format(record) for record in records)


async def _failure(coro: Any) -> BaseException:
    try:
        await coro
    except BaseException as exc:
        while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
            exc = exc.exceptions[0]
        return exc
    raise AssertionError("no failure")


async def _open_fails(client: Client) -> BaseException:
    async def run() -> None:
        async with client:
            pass

    return await _failure(run())


def _private(paths: Iterable[Path]) -> list[str]:
    wrong = []
    for path in paths:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode != (0o700 if path.is_dir() else 0o600):
            wrong.append(f"{path} {oct(mode)}")
    return wrong


def _leaks(secrets: dict[str, str], texts: dict[str, str]) -> list[str]:
    return [
        f"{name} in {where}" for name, s in secrets.items() for where, t in texts.items() if s in t
    ]


@pytest.mark.asyncio
async def test_matrix_session_leaks_nothing(
    synapse: SynapseInstance,
    make_matrix_user: MakeUser,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    figures: Figures,
) -> None:
    caplog.set_level(logging.DEBUG)  # the root logger: nio, aiohttp, peewee, unimsg
    alice_user, bob_user = await make_matrix_user(synapse), await make_matrix_user(synapse)
    store = tmp_path / "alice"
    client_db = tmp_path / "client" / "state.db"

    def alice() -> MatrixAdapter:
        return MatrixAdapter(
            homeserver=alice_user.homeserver,
            user_id=alice_user.user_id,
            password=alice_user.password,
            store_path=store,
            sync_timeout_ms=2_000,
        )

    bob = adapter_for(bob_user, tmp_path / "bob")
    held: list[object] = []
    errors: list[BaseException] = []
    async with Client(alice(), store=client_db) as a, Client(bob) as b:
        room = await a.create_conversation(
            "matrix", name="secrets", members=[bob.account], encrypted=True
        )
        await b.join(room.address)
        sent = await a.send(room.address, "psst")
        got = await EventWaiter(b, 15).next(MessageReceived, lambda e: e.text == "psst")
        assert got.encrypted
        reply = await b.send(room.address, "heard you")
        inbox = EventWaiter(a, 15)
        answer = await inbox.next(MessageReceived, lambda e: e.text == "heard you")
        errors.append(await _failure(a.send(f"matrix:!nowhere:{synapse.server_name}", "x")))
        first = a.adapter("matrix")
        assert isinstance(first, MatrixAdapter)
        recovery_key = first.take_recovery_key()
        assert recovery_key is not None
        held += [a, b, first, bob, bob.config, sent, got, reply, answer]
        held += [a.health(), a.store, *inbox.skipped]
        # While open: SQLite's -wal and -shm files exist only until the last close.
        open_files = [client_db.parent, *client_db.parent.iterdir()]
        assert any(p.name == "state.db-wal" for p in open_files), open_files
        wrong_while_open = _private(open_files)
    # A restart from the store: the saved token, no new login.
    async with Client(alice(), store=client_db) as a:
        restarted = a.adapter("matrix")
        assert isinstance(restarted, MatrixAdapter)
        held += [a, restarted, restarted.config]
        await a.send(room.address, "back")
    state = json.loads((store / "state.json").read_text())
    wrong_password = MatrixAdapter(
        homeserver=alice_user.homeserver,
        user_id=alice_user.user_id,
        password="not-" + alice_user.password,
        store_path=tmp_path / "wrong",
    )
    errors.append(await _open_fails(Client(wrong_password)))
    unreachable = MatrixAdapter(
        homeserver="http://127.0.0.1:9",
        user_id=bob_user.user_id,
        access_token=bob_user.access_token,
        device_id=bob_user.device_id,
        store_path=tmp_path / "unreachable",
    )
    errors.append(await _open_fails(Client(unreachable)))
    # A new machine: with the wrong recovery key it refuses; with the right one it restores.
    wrong_key = "EsTj 3yST y93F SLpB jJsz eAXc 2XzA ygD3 w69H fGaN TKBj jXEd"
    moved = {"password": alice_user.password, "sync_timeout_ms": 2_000}
    mistyped = MatrixAdapter(
        homeserver=alice_user.homeserver,
        user_id=alice_user.user_id,
        store_path=tmp_path / "mistyped",
        recovery_key=wrong_key,
        **moved,
    )
    errors.append(await _open_fails(Client(mistyped)))
    restored = MatrixAdapter(
        homeserver=alice_user.homeserver,
        user_id=alice_user.user_id,
        store_path=tmp_path / "restored",
        recovery_key=recovery_key,
        **moved,
    )
    async with Client(restored) as a:
        held += [a, restored, restored.config, await a.encryption_state(room.address)]
    held += [wrong_password, unreachable, mistyped, mistyped.config]
    assert all(isinstance(e, UnimsgError) for e in errors), errors

    secrets = {
        "alice's password": alice_user.password,
        "alice's login token": state["access_token"],
        "bob's configured token": bob_user.access_token,
        "alice's registration token": alice_user.access_token,
        "registration shared secret": synapse.registration_shared_secret,
        "recovery key": recovery_key,
        "recovery key without spaces": recovery_key.replace(" ", ""),
        "a wrong recovery key": wrong_key.replace(" ", ""),
    }
    for where in (store, tmp_path / "restored"):
        private = json.loads((where / "cross_signing.json").read_text())
        assert set(private) == {"master", "self_signing", "user_signing", "backup"}
        for name, value in private.items():
            secrets[f"{name} private key ({where.name})"] = value
    assert recovery_key in (store / "recovery-key.txt").read_text()
    assert state["access_token"] and state["access_token"] != alice_user.access_token
    texts = {
        "logs": _formatted(caplog.records),
        "reprs": "\n".join(map(repr, held)),
        "errors": "\n".join(f"{e!r} {e}" for e in errors),
    }
    leaks = _leaks(secrets, texts)
    restored_store = tmp_path / "restored"
    paths = [store, *store.rglob("*"), restored_store, *restored_store.rglob("*")]
    paths += [client_db.parent, *client_db.parent.iterdir()]
    wrong_modes = _private(paths) + wrong_while_open
    figures(
        "7 secrets and file modes (Matrix session)",
        sent=3,
        delivered=2,
        duplicated=0,
        lost=0,
        log_records=len(caplog.records),
        secrets_checked=len(secrets),
        leaks=len(leaks),
        files_checked=len(paths) + len(open_files),
        wrong_modes=len(wrong_modes),
    )
    assert len(caplog.records) > 100, "DEBUG logging did not capture the session"
    assert leaks == []
    assert wrong_modes == []


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_signal_http_session_leaks_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, figures: Figures
) -> None:
    caplog.set_level(logging.DEBUG)
    password, token = f"pw-{uuid.uuid4().hex}", f"tok-{uuid.uuid4().hex}"
    network = EmulatedNetwork()
    network.register(ALICE)
    network.register(BOB)
    held: list[object] = []
    errors: list[BaseException] = []
    client_db = tmp_path / "signal" / "state.db"
    async with (
        Daemon(network, [ALICE], receive_mode=ReceiveMode.MANUAL) as daemon,
        serve_http(daemon) as server,
    ):
        with_userinfo = server.url.replace("http://", f"http://bot:{password}@")
        fast = {"min_backoff": 0.05, "max_backoff": 0.2, "request_timeout": 3.0}
        for adapter in (
            SignalAdapter.create(ALICE, with_userinfo, **fast),
            SignalAdapter.create(ALICE, server.url, http_token=token, **fast),
        ):
            async with Client(adapter, store=client_db) as alice:
                inbox = EventWaiter(alice, 5)
                sent = await alice.send(Address.signal(BOB), "hi")
                network.send_text(BOB, ALICE, "hello back")
                got = await inbox.next(MessageReceived)
                network.faults.drop_connections()
                await anyio.sleep(0.3)
                errors.append(await _failure(alice.send("signal:+15559999999", "nobody")))
                events: list[Event] = [got, *inbox.skipped]
                held += [alice, adapter, adapter.config, sent, alice.health(), *events]
            assert adapter.config.http_password in (None, password)
        dead = with_userinfo.rsplit(":", 1)[0] + ":9"
        errors.append(await _open_fails(Client(SignalAdapter.create(ALICE, dead, **fast))))
    assert all(isinstance(e, UnimsgError) for e in errors), errors
    secrets = {"HTTP password": password, "HTTP bearer token": token}
    texts = {
        "logs": _formatted(caplog.records),
        "reprs": "\n".join(map(repr, held)),
        "errors": "\n".join(f"{e!r} {e}" for e in errors),
    }
    leaks = _leaks(secrets, texts)
    paths = [client_db.parent, *client_db.parent.iterdir()]
    wrong_modes = _private(paths)
    figures(
        "7 secrets and file modes (Signal over HTTP)",
        sent=2,
        delivered=2,
        duplicated=0,
        lost=0,
        log_records=len(caplog.records),
        secrets_checked=len(secrets),
        leaks=len(leaks),
        files_checked=len(paths),
        wrong_modes=len(wrong_modes),
    )
    assert leaks == []
    assert wrong_modes == []
