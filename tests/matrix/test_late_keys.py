"""A message whose room key came late: first undecryptable, then decrypted, same id."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import anyio
import attrs
import pytest
from unimsg_matrix import MatrixAdapter

from unimsg import Address, Client, MessageReceived, UndecryptableMessage
from unimsg.testing._waiting import EventWaiter

from .fixtures_adapter import MakeAdapter, MakeUser, make_adapter, store_root
from .jsclient import JsClient, MakeJsClient
from .test_jsclient_interop import shared_room

__all__ = ["make_adapter", "store_root"]

pytestmark = pytest.mark.asyncio


async def test_key_of_a_message_sent_before_the_device_existed_arrives_later(
    make_matrix_user: MakeUser,
    make_adapter: MakeAdapter,
    make_js_client: MakeJsClient,
    tmp_path: Path,
) -> None:
    bot_user, peer_user = await make_matrix_user(), await make_matrix_user()
    first = make_adapter(bot_user, trust_policy="always", cross_signing=True)
    peer = await make_js_client(peer_user)
    async with Client(first) as one:
        recovery_key = first.take_recovery_key()
        assert recovery_key is not None
        room = await shared_room(one, first, peer)
        text = f"before the second device {uuid.uuid4().hex}"
        # Sent while the bot's second device does not exist: its key is shared with the first only.
        sent = await peer.send(room.id, text)
        await EventWaiter(one, 15).next(MessageReceived, lambda e: e.text == text)

        # A second machine of the bot: the recovery key makes it cross-signed; without
        # the key backup it can get the room key only from the first device.
        second = MatrixAdapter(
            homeserver=bot_user.homeserver,
            user_id=bot_user.user_id,
            password=bot_user.password,
            store_path=tmp_path / "second-device",
            sync_timeout_ms=2_000,
            replay_history=True,
            trust_policy="always",
            recovery_key=recovery_key,
            key_backup=False,
        )
        async with Client(second) as two:
            inbox = EventWaiter(two, 30)
            missing = await inbox.next(UndecryptableMessage, lambda e: e.id == sent)
            assert missing.conversation == room and missing.session_id

            # No action: the devices trust each other through the account's cross-signing.
            late = await inbox.next(MessageReceived, lambda e: e.id == sent)
            assert late.text == text and late.encrypted
            assert late.conversation == missing.conversation and late.sender == missing.sender
            assert late.timestamp == missing.timestamp

            # What the independent client sees: the new device answering what it could not
            # read, cross-signed by its owner (no warning shield).
            reply = await two.reply(late, "read it now")
            seen = await peer.wait_event(room.id, event_id=reply.id)
            assert seen["body"] == "read it now" and not seen["undecryptable"], seen
            assert seen["sender_device"] == second.device_id, seen
            assert seen["shield"] == {"colour": "NONE", "reason": None}, seen


async def test_own_devices_without_cross_signing_share_keys_once_trusted_across_restarts(
    make_matrix_user: MakeUser,
    make_adapter: MakeAdapter,
    make_js_client: MakeJsClient,
    tmp_path: Path,
) -> None:
    bot_user, peer_user = await make_matrix_user(), await make_matrix_user()
    first = make_adapter(bot_user, trust_policy="always", cross_signing=False)
    peer = await make_js_client(peer_user)
    async with Client(first) as one:
        room = await shared_room(one, first, peer)
        text = f"before the second device {uuid.uuid4().hex}"
        sent = await peer.send(room.id, text)
        await EventWaiter(one, 15).next(MessageReceived, lambda e: e.text == text)
        second = MatrixAdapter(
            homeserver=bot_user.homeserver,
            user_id=bot_user.user_id,
            password=bot_user.password,
            store_path=tmp_path / "second-device",
            sync_timeout_ms=2_000,
            replay_history=True,
            trust_policy="always",
            cross_signing=False,
        )
        async with Client(second) as two:
            inbox = EventWaiter(two, 30)
            await inbox.next(UndecryptableMessage, lambda e: e.id == sent)
            await _until_known(first, bot_user.user_id, second.device_id or "")
            await _until_known(second, bot_user.user_id, first.device_id or "")
            # Neither device hands keys to (or takes them from) a device it does not trust.
            await inbox.none(MessageReceived, within=2.0)
        # The second device restarts while it still waits for the key: it keeps waiting.
        second = MatrixAdapter(second.config)
        async with Client(second) as two:
            inbox = EventWaiter(two, 30)
            await one.trust(Address.matrix(bot_user.user_id))
            await two.trust(Address.matrix(bot_user.user_id))
            late = await inbox.next(MessageReceived, lambda e: e.id == sent)
            assert late.text == text and late.encrypted
            assert not [e for e in inbox.skipped if isinstance(e, UndecryptableMessage)]


async def _until_known(adapter: MatrixAdapter, user_id: str, device_id: str) -> None:
    deadline = time.monotonic() + 15
    while device_id not in await adapter.devices(user_id):
        assert time.monotonic() < deadline, f"{device_id} never showed up"
        await anyio.sleep(0.2)


async def test_missing_key_found_in_the_backup_before_delivery(
    make_matrix_user: MakeUser,
    make_adapter: MakeAdapter,
    make_js_client: MakeJsClient,
    tmp_path: Path,
) -> None:
    bot_user, peer_user = await make_matrix_user(), await make_matrix_user()
    first = make_adapter(bot_user, trust_policy="always", cross_signing=True)
    peer = await make_js_client(peer_user)
    second = MatrixAdapter(
        homeserver=bot_user.homeserver,
        user_id=bot_user.user_id,
        password=bot_user.password,
        store_path=tmp_path / "second-device",
        sync_timeout_ms=2_000,
        trust_policy="always",
    )
    async with Client(first) as one:
        second = MatrixAdapter(attrs.evolve(second.config, recovery_key=first.take_recovery_key()))
        room = await shared_room(one, first, peer)
        # The peer sends only to devices it verified: the first one, not the second.
        await _until_peer_knows(peer, bot_user.user_id, first.device_id or "")
        await peer.call("set_device_verified", user_id=bot_user.user_id, device_id=first.device_id)
        await peer.call("send_only_to_verified")
        async with Client(second):
            # The second device exists (with the backup key) and the peer knows it.
            await _until_peer_knows(peer, bot_user.user_id, second.device_id or "")
        text = f"withheld from the second device {uuid.uuid4().hex}"
        sent = await peer.send(room.id, text)
        await EventWaiter(one, 15).next(MessageReceived, lambda e: e.text == text)
    # The first device stopped after backing the key up: nobody can forward it now. The
    # backup has it, so the message comes decrypted, with no placeholder before it.
    async with Client(second) as two:
        inbox = EventWaiter(two, 30)
        got = await inbox.next(MessageReceived, lambda e: e.id == sent)
        assert got.text == text and got.encrypted and got.conversation == room
        assert not [e for e in inbox.skipped if isinstance(e, UndecryptableMessage)]


async def _until_peer_knows(peer: JsClient, user_id: str, device_id: str) -> None:
    deadline = time.monotonic() + 15
    while device_id not in await peer.call("user_devices", user_id=user_id):
        assert time.monotonic() < deadline, f"the peer never saw {device_id}"
        await anyio.sleep(0.2)
