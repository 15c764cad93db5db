"""Bad input around cross-signing: each a typed, clear error, and nothing on the server replaced."""

from __future__ import annotations

import base64
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import attrs
import httpx
import pytest
import pytest_asyncio
from aiohttp import web
from unimsg_matrix import (
    KeyBackupTrustError,
    MatrixAdapter,
    RecoveryKeyError,
    SecretStorageError,
)
from unimsg_matrix._recovery_key import RecoveryKey

from unimsg import AuthenticationError, Client, NotSupportedError

from .jsclient import MakeJsClient
from .synapse import RegisteredUser, SynapseInstance
from .test_crosssigning_recovery import _fails, bot_adapter

pytestmark = pytest.mark.asyncio


def _api(user: RegisteredUser) -> httpx.AsyncClient:
    """The account's registration device, acting on the server directly."""
    return httpx.AsyncClient(
        base_url=f"{user.homeserver}/_matrix/client/v3",
        headers={"Authorization": f"Bearer {user.access_token}"},
        timeout=30,
    )


async def _bootstrapped(user: RegisteredUser, store: Path) -> tuple[str, str]:
    """(master key, recovery key) after a first start."""
    bot = bot_adapter(user, store)
    async with Client(bot):
        recovery, master = bot.take_recovery_key(), bot.cross_signing_key
    assert recovery is not None and master is not None
    return master, recovery


async def test_wrong_and_mistyped_recovery_keys(
    make_matrix_user: Any, make_js_client: MakeJsClient, tmp_path: Path
) -> None:
    user = await make_matrix_user()
    master, recovery = await _bootstrapped(user, tmp_path / "first")
    wrong = RecoveryKey.generate().encoded
    failure = await _fails(bot_adapter(user, tmp_path / "b", recovery_key=wrong))
    assert isinstance(failure, RecoveryKeyError) and isinstance(failure, ValueError)
    assert "not the account's secret-storage key" in str(failure)
    assert wrong not in str(failure) and wrong.replace(" ", "") not in str(failure)
    # One character changed: the parity byte catches it before the server is asked.
    typo = ("1" if recovery[5] != "1" else "2").join((recovery[:5], recovery[6:]))
    failure = await _fails(bot_adapter(user, tmp_path / "c", recovery_key=typo))
    assert isinstance(failure, RecoveryKeyError), repr(failure)
    assert "mistyped" in str(failure) or "malformed" in str(failure)
    failure = await _fails(bot_adapter(user, tmp_path / "d", recovery_key="not a key"))
    assert isinstance(failure, RecoveryKeyError), repr(failure)
    peer = await make_js_client(await make_matrix_user())
    assert await peer.master_key(user.user_id) == master


async def test_corrupted_secret_storage_entry(
    make_matrix_user: Any, make_js_client: MakeJsClient, tmp_path: Path
) -> None:
    user = await make_matrix_user()
    master, recovery = await _bootstrapped(user, tmp_path / "first")
    kind = "m.cross_signing.self_signing"
    path = f"/user/{quote(user.user_id, safe='')}/account_data/{kind}"
    async with _api(user) as api:
        content = (await api.get(path)).json()
        [entry] = content["encrypted"].values()
        raw = bytearray(base64.b64decode(entry["ciphertext"] + "=="))
        raw[0] ^= 0x01
        entry["ciphertext"] = base64.b64encode(bytes(raw)).decode()
        assert (await api.put(path, json=content)).status_code == 200
    failure = await _fails(bot_adapter(user, tmp_path / "second", recovery_key=recovery))
    assert isinstance(failure, SecretStorageError), repr(failure)
    assert "m.cross_signing.self_signing" in str(failure) and "corrupted" in str(failure)
    peer = await make_js_client(await make_matrix_user())
    assert await peer.master_key(user.user_id) == master


async def test_a_backup_not_signed_by_the_account_is_refused(
    make_matrix_user: Any, tmp_path: Path
) -> None:
    user = await make_matrix_user()
    store = tmp_path / "bot"
    await _bootstrapped(user, store)
    foreign = {
        "algorithm": "m.megolm_backup.v1.curve25519-aes-sha2",
        "auth_data": {"public_key": base64.b64encode(secrets.token_bytes(32)).decode()},
    }
    async with _api(user) as api:
        created = await api.post("/room_keys/version", json=foreign)
        assert created.status_code == 200, created.text
        version = created.json()["version"]
        failure = await _fails(bot_adapter(user, store))
        assert isinstance(failure, KeyBackupTrustError), repr(failure)
        assert f"version {version}" in str(failure) and "not signed" in str(failure)
        current = (await api.get("/room_keys/version")).json()
    assert current["version"] == version and current["auth_data"] == foreign["auth_data"]


async def test_a_backup_signed_by_a_cross_signed_device_is_used(
    make_matrix_user: Any, tmp_path: Path
) -> None:
    """As Element makes them: signed by the device that created the backup."""
    user = await make_matrix_user()
    store = tmp_path / "bot"
    bot = bot_adapter(user, store)
    public = base64.b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    async with Client(bot):
        live = bot._live
        assert live is not None
        signature = live.session.client.olm.sign_json({"public_key": public})
        device = live.session.device_id
    auth = {"public_key": public, "signatures": {user.user_id: {f"ed25519:{device}": signature}}}
    body = {"algorithm": "m.megolm_backup.v1.curve25519-aes-sha2", "auth_data": auth}
    async with _api(user) as api:
        created = await api.post("/room_keys/version", json=body)
        assert created.status_code == 200, created.text
    again = bot_adapter(user, store)
    async with Client(again):
        live = again._live
        assert live is not None and live.identity is not None
        assert live.identity.backup is not None
        assert live.identity.backup.version == created.json()["version"]


async def test_reset_replaces_the_identity_only_when_asked(
    make_matrix_user: Any, make_js_client: MakeJsClient, tmp_path: Path
) -> None:
    user = await make_matrix_user()
    master, _ = await _bootstrapped(user, tmp_path / "first")
    reset = bot_adapter(user, tmp_path / "second", reset_cross_signing=True)
    async with Client(reset):
        fresh = reset.take_recovery_key()
        new_master = reset.cross_signing_key
    assert fresh is not None and new_master not in (None, master)
    peer = await make_js_client(await make_matrix_user())
    assert await peer.master_key(user.user_id) == new_master
    # Replacing published keys needs the password; a token alone cannot do it.
    token_only = MatrixAdapter(
        homeserver=user.homeserver,
        user_id=user.user_id,
        access_token=user.access_token,
        device_id=user.device_id,
        store_path=tmp_path / "token",
        reset_cross_signing=True,
    )
    failure = await _fails(token_only)
    assert isinstance(failure, AuthenticationError), repr(failure)
    assert "password" in str(failure)
    assert await peer.master_key(user.user_id) == new_master
    # The old store now holds keys the server no longer publishes: it asks, not overwrites.
    failure = await _fails(bot_adapter(user, tmp_path / "first"))
    assert "reset from another client" in str(failure), failure
    assert await peer.master_key(user.user_id) == new_master


@pytest_asyncio.fixture
async def no_cross_signing(synapse: SynapseInstance) -> AsyncIterator[str]:
    """The homeserver behind a proxy that does not know the cross-signing endpoints."""
    upstream = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))

    async def forward(request: web.Request) -> web.StreamResponse:
        if request.path.endswith("/keys/device_signing/upload"):
            body = {"errcode": "M_UNRECOGNIZED", "error": "Unrecognized request"}
            return web.json_response(body, status=404)
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        async with upstream.request(
            request.method,
            synapse.url + request.rel_url.path_qs,
            headers=headers,
            data=await request.read(),
        ) as answer:
            return web.Response(
                status=answer.status,
                body=await answer.read(),
                content_type=answer.content_type,
            )

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
        await upstream.close()


async def test_a_server_without_cross_signing(
    make_matrix_user: Any, no_cross_signing: str, tmp_path: Path
) -> None:
    user = await make_matrix_user()
    config = bot_adapter(user, tmp_path / "bot").config
    failure = await _fails(MatrixAdapter(attrs.evolve(config, homeserver=no_cross_signing)))
    assert isinstance(failure, NotSupportedError), repr(failure)
    assert "cross-signing" in str(failure) and "cross_signing = false" in str(failure)
    plain = MatrixAdapter(attrs.evolve(config, homeserver=no_cross_signing, cross_signing=False))
    async with Client(plain):
        pass
