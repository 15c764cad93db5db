"""A bot's identity and history survive a new machine, with its recovery key; what the
independent client (matrix-js-sdk, Rust crypto) sees of the bot's secret storage and backup."""

from __future__ import annotations

import shutil
import stat
import uuid
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from unimsg_matrix import MatrixAdapter, RecoveryKeyRequiredError

from unimsg import Client, MessageReceived
from unimsg.testing._waiting import EventWaiter

from .jsclient import MakeJsClient
from .synapse import RegisteredUser
from .test_jsclient_interop import shared_room

pytestmark = pytest.mark.asyncio


def bot_adapter(user: RegisteredUser, store: Path, **settings: Any) -> MatrixAdapter:
    """A bot that logs in with its password: each new store is a new device."""
    settings.setdefault("sync_timeout_ms", 5_000)
    return MatrixAdapter(
        homeserver=user.homeserver,
        user_id=user.user_id,
        password=user.password,
        store_path=store,
        trust_policy="always",
        **settings,
    )


async def _backed_up(user: RegisteredUser, room_id: str, within: float = 15) -> None:
    headers = {"Authorization": f"Bearer {user.access_token}"}
    base = f"{user.homeserver}/_matrix/client/v3/room_keys"
    async with httpx.AsyncClient(headers=headers, timeout=30) as http:
        version = (await http.get(f"{base}/version")).json()["version"]
        with anyio.fail_after(within):
            while True:
                keys = (await http.get(f"{base}/keys", params={"version": version})).json()
                if keys.get("rooms", {}).get(room_id, {}).get("sessions"):
                    return
                await anyio.sleep(0.2)


async def _one_key_at_a_time(adapter: MatrixAdapter, room_id: str) -> None:
    """A single room key comes back from the backup (the path of a late key)."""
    live = adapter._live
    assert live is not None and live.identity is not None
    backup, key = live.identity.backup, live.identity.backup_key
    assert backup is not None and key is not None
    olm = live.session.client.olm
    by_sender = olm.inbound_group_store[room_id]
    sender, sessions = next((s, v) for s, v in by_sender.items() if v)
    session_id = next(iter(sessions))
    del sessions[session_id]
    assert olm.inbound_group_store.get(room_id, sender, session_id) is None
    assert await backup.restore_session(key, room_id, session_id) is True
    assert olm.inbound_group_store.get(room_id, sender, session_id) is not None
    assert await backup.restore_session(key, room_id, "no-such-session") is False


async def _fails(adapter: MatrixAdapter) -> BaseException:
    try:
        async with Client(adapter):
            pass
    except BaseException as exc:
        while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
            exc = exc.exceptions[0]
        return exc
    raise AssertionError("the adapter started")


async def test_new_machine_restores_identity_and_history_with_the_recovery_key(
    make_matrix_user: Any, make_js_client: MakeJsClient, tmp_path: Path
) -> None:
    bot_user, peer_user = await make_matrix_user(), await make_matrix_user()
    peer = await make_js_client(peer_user)
    first_store = tmp_path / "machine-1"
    key_file = tmp_path / "operator" / "recovery-key.txt"
    bot = bot_adapter(bot_user, first_store, recovery_key_path=key_file)
    before = f"before the move {uuid.uuid4().hex}"
    async with Client(bot) as client:
        recovery = bot.take_recovery_key()
        assert recovery is not None
        master, first_device = bot.cross_signing_key, bot.device_id
        room = await shared_room(client, bot, peer)
        await peer.send(room.id, before)
        got = await EventWaiter(client, 15).next(MessageReceived, lambda e: e.text == before)
        assert got.encrypted
        # The room key is backed up while the bot runs, not only when it stops.
        await _backed_up(bot_user, room.id)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert recovery.replace(" ", "") in key_file.read_text().replace(" ", "")
    assert stat.S_IMODE((first_store / "cross_signing.json").stat().st_mode) == 0o600

    # Element's SDK, as another device of the bot's account, opens what the bot stored.
    own = await make_js_client(bot_user)
    names = [
        "m.cross_signing.master",
        "m.cross_signing.self_signing",
        "m.cross_signing.user_signing",
        "m.megolm_backup.v1",
    ]
    storage = await own.call("secret_storage", recovery_key=recovery, names=names)
    assert storage["key_valid"] is True, storage
    assert all(
        isinstance(storage["secrets"][n], dict) and storage["secrets"][n].get("length")
        for n in names
    ), storage
    # It takes the bot's cross-signing keys from secret storage instead of making new
    # ones, and then trusts the bot's backup: its auth data carries the master key's signature.
    await own.call("bootstrap_cross_signing", password=bot_user.password)
    assert await own.master_key(bot_user.user_id) == master
    backup = await own.call("backup_info")
    assert backup["trusted"] and backup["algorithm"].startswith("m.megolm_backup.v1"), backup
    restored = await own.call("restore_backup", recovery_key=recovery)
    assert restored["imported"] >= 1 and restored["total"] >= 1, restored
    [seen] = await own.call("history", room_id=room.id, body=before)
    assert not seen["undecryptable"], seen

    # The machine is gone; a new one has only the account password and the recovery key.
    shutil.rmtree(first_store)
    second_store = tmp_path / "machine-2"
    moved = bot_adapter(bot_user, second_store, recovery_key=recovery, replay_history=True)
    async with Client(moved) as client:
        new_device = moved.device_id
        assert new_device is not None and new_device != first_device
        assert moved.cross_signing_key == master
        assert moved.take_recovery_key() is None
        history = EventWaiter(client, 15)
        old = await history.next(MessageReceived, lambda e: e.text == before)
        assert old.encrypted and old.sender.id == peer_user.user_id
        state = await client.encryption_state(room)
        assert state.own_device_verified is True
        await _one_key_at_a_time(moved, room.id)
        sent = await client.send(room, "from the new machine")
        seen = await peer.wait_event(room.id, event_id=sent.id)
        assert seen["shield"] == {"colour": "NONE", "reason": None}, seen
    status = await peer.device_status(bot_user.user_id, new_device)
    assert status is not None and status["signed_by_owner"], status
    assert await peer.master_key(bot_user.user_id) == master
    user = await peer.call("user_status", user_id=bot_user.user_id)
    assert not user["needs_user_approval"], user
    assert not list(second_store.glob("recovery-key*"))


async def test_a_new_machine_without_the_recovery_key_says_what_is_missing(
    make_matrix_user: Any, make_js_client: MakeJsClient, tmp_path: Path
) -> None:
    bot_user = await make_matrix_user()
    first = bot_adapter(bot_user, tmp_path / "first")
    async with Client(first):
        master = first.cross_signing_key
    failure = await _fails(bot_adapter(bot_user, tmp_path / "second"))
    assert isinstance(failure, RecoveryKeyRequiredError), repr(failure)
    text = str(failure)
    assert "recovery key" in text and "recovery_key_env" in text and str(master) in text
    peer = await make_js_client(await make_matrix_user())
    assert await peer.master_key(bot_user.user_id) == master


async def test_the_bot_takes_over_an_identity_set_up_in_element(
    make_matrix_user: Any, make_js_client: MakeJsClient, tmp_path: Path
) -> None:
    """The operator set the account up in Element (recovery key, backup), then runs the bot."""
    bot_user, peer_user = await make_matrix_user(), await make_matrix_user()
    element = await make_js_client(bot_user)
    made = await element.call("setup_recovery", password=bot_user.password)
    recovery, master = made["recovery_key"], made["master"]
    peer = await make_js_client(peer_user)
    room = await peer.create_room(invite=[bot_user.user_id])
    await element.call("join", room_id=room)
    await peer.call("wait_members", room_id=room, users=[bot_user.user_id])
    before = f"before the bot {uuid.uuid4().hex}"
    await peer.send(room, before)
    seen = await element.wait_event(room, body=before)
    assert not seen["undecryptable"], seen
    await _backed_up(bot_user, room, within=30)

    bot = bot_adapter(bot_user, tmp_path / "bot", recovery_key=recovery, replay_history=True)
    async with Client(bot) as client:
        assert bot.cross_signing_key == master and bot.take_recovery_key() is None
        device = bot.device_id
        old = await EventWaiter(client, 15).next(MessageReceived, lambda e: e.text == before)
        assert old.encrypted and old.sender.id == peer_user.user_id
        sent = await client.send(f"matrix:{room}", "the bot is here")
        seen = await peer.wait_event(room, event_id=sent.id)
        assert seen["shield"] == {"colour": "NONE", "reason": None}, seen
    status = await element.device_status(bot_user.user_id, device or "")
    assert status is not None and status["signed_by_owner"] and status["verified"], status
