"""What an independent client (matrix-js-sdk, Rust crypto, as in Element) sees of the bot."""

from __future__ import annotations

import time
import uuid

import anyio
import pytest
from unimsg_matrix import MatrixAdapter

from unimsg import Address, Client, MessageReceived
from unimsg.testing._waiting import EventWaiter

from .fixtures_adapter import MakeAdapter, MakeUser, make_adapter, store_root
from .jsclient import JsClient, MakeJsClient

__all__ = ["make_adapter", "store_root"]

pytestmark = pytest.mark.asyncio


async def shared_room(client: Client, bot: MatrixAdapter, peer: JsClient) -> Address:
    """An encrypted room the bot created with ``peer`` in it, both joined."""
    room = await client.create_conversation(
        "matrix", name="interop", members=[Address.matrix(peer.user_id)], encrypted=True
    )
    await peer.call("join", room_id=room.address.id)
    deadline = time.monotonic() + 15
    while Address.matrix(peer.user_id) not in (await client.conversation(room.address)).members:
        assert time.monotonic() < deadline, "the bot never saw the peer join"
        await anyio.sleep(0.1)
    return room.address


async def test_without_cross_signing_the_peer_shows_a_red_shield(
    make_matrix_user: MakeUser, make_adapter: MakeAdapter, make_js_client: MakeJsClient
) -> None:
    bot_user, peer_user = await make_matrix_user(), await make_matrix_user()
    bot = make_adapter(bot_user, trust_policy="always", cross_signing=False)
    peer = await make_js_client(peer_user)
    async with Client(bot) as client:
        room = await shared_room(client, bot, peer)
        text = f"from the bot {uuid.uuid4().hex}"
        sent = await client.send(room, text)
        seen = await peer.wait_event(room.id, event_id=sent.id)
        assert seen["encrypted"] and not seen["undecryptable"], seen
        assert seen["body"] == text and seen["sender_device"] == bot.device_id
        # A device its owner never signed: what Element shows for every nio bot.
        assert seen["shield"] == {"colour": "RED", "reason": "UNSIGNED_DEVICE"}, seen
        status = await peer.device_status(bot_user.user_id, bot.device_id or "")
        assert status is not None and not status["signed_by_owner"], status

        reply = f"from js {uuid.uuid4().hex}"
        await peer.send(room.id, reply)
        got = await EventWaiter(client, 15).next(MessageReceived, lambda e: e.text == reply)
        assert got.sender.id == peer_user.user_id


async def test_cross_signed_bot_shows_no_shield_and_keeps_its_master_key(
    make_matrix_user: MakeUser, make_adapter: MakeAdapter, make_js_client: MakeJsClient
) -> None:
    bot_user, peer_user = await make_matrix_user(), await make_matrix_user()
    peer = await make_js_client(peer_user)
    bot = make_adapter(bot_user, trust_policy="always", cross_signing=True)
    async with Client(bot) as client:
        recovery = bot.take_recovery_key()
        assert recovery is not None and bot.take_recovery_key() is None
        master = bot.cross_signing_key
        room = await shared_room(client, bot, peer)
        state = await client.encryption_state(room)
        assert state.own_device_verified is True
        sent = await client.send(room, "signed")
        seen = await peer.wait_event(room.id, event_id=sent.id)
        assert seen["body"] == "signed" and seen["shield"] == {"colour": "NONE", "reason": None}
        status = await peer.device_status(bot_user.user_id, bot.device_id or "")
        assert status is not None and status["signed_by_owner"], status
        user = await peer.call("user_status", user_id=bot_user.user_id)
        assert user["has_cross_signing_keys"], user
    assert master is not None and await peer.master_key(bot_user.user_id) == master

    # A restart keeps the identity: same master key, no new recovery key, no identity reset.
    again = make_adapter(bot_user, trust_policy="always", cross_signing=True)
    async with Client(again) as client:
        assert again.take_recovery_key() is None
        assert again.cross_signing_key == master
        sent = await client.send(room, "still signed")
        seen = await peer.wait_event(room.id, event_id=sent.id)
        assert seen["shield"] == {"colour": "NONE", "reason": None}, seen
    assert await peer.master_key(bot_user.user_id) == master
    user = await peer.call("user_status", user_id=bot_user.user_id)
    assert not user["needs_user_approval"], user
