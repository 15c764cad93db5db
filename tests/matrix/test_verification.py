"""Interactive verification (SAS) started by an independent client (matrix-js-sdk)."""

from __future__ import annotations

import time
from typing import Any

import anyio
import pytest
from unimsg_matrix import SasVerification

from unimsg import (
    Address,
    Client,
    MessageReceived,
    UnknownEvent,
    UnverifiedDevicesError,
)
from unimsg.testing._waiting import EventWaiter

from .fixtures_adapter import MakeAdapter, MakeUser, make_adapter, store_root
from .jsclient import JsClient, JsClientError, MakeJsClient
from .test_jsclient_interop import shared_room

__all__ = ["make_adapter", "store_root"]

pytestmark = pytest.mark.asyncio


@pytest.mark.parametrize("where", ["to-device", "in-room"])
async def test_sas_verification_completes_on_both_sides(
    make_matrix_user: MakeUser,
    make_adapter: MakeAdapter,
    make_js_client: MakeJsClient,
    where: str,
) -> None:
    bot_user, peer_user = await make_matrix_user(), await make_matrix_user()
    shown: list[SasVerification] = []

    async def compare(sas: SasVerification) -> bool:
        shown.append(sas)
        return True

    bot = make_adapter(bot_user, trust_policy="strict", verification=compare, cross_signing=True)
    peer = await make_js_client(peer_user)
    await peer.call("bootstrap_cross_signing", password=peer_user.password)
    async with Client(bot) as client:
        room = await shared_room(client, bot, peer)
        with pytest.raises(UnverifiedDevicesError):
            await client.send(room, "before verification")
        before = await peer.call("user_status", user_id=bot_user.user_id)
        assert not before["cross_signing_verified"], before

        inbox = EventWaiter(client, 15)
        if where == "in-room":
            request = await peer.call(
                "verify_request_dm", user_id=bot_user.user_id, room_id=room.id
            )
        else:
            request = await _request(peer, bot_user.user_id, bot.device_id or "")
        result = await peer.call("verify_sas", request=request["request"], start=True, wait=60)

        # The verification's events are not the application's business.
        await inbox.none(MessageReceived, within=1.0)
        assert not [e for e in inbox.skipped if isinstance(e, UnknownEvent)], inbox.skipped

        # Both sides showed the same emoji and numbers, and both finished.
        assert result["done"], result
        assert len(shown) == 1 and shown[0].user == Address.matrix(peer_user.user_id)
        assert shown[0].device_id == peer.device_id
        assert [name for _, name in shown[0].emoji] == result["emoji"], (shown, result)
        assert list(shown[0].decimals) == result["decimal"], (shown, result)

        # The independent client now trusts the bot's identity and its device.
        # (It signs the bot's master key after the SAS is done, in the background.)
        after = await _user_status(peer, bot_user.user_id, until="cross_signing_verified")
        assert after["cross_signing_verified"], after
        device = await peer.device_status(bot_user.user_id, bot.device_id or "")
        assert device is not None and device["verified"], device

        # And the bot trusts the peer under the strict policy.
        sent = await client.send(room, "after verification")
        seen = await peer.wait_event(room.id, event_id=sent.id)
        assert seen["body"] == "after verification", seen
        assert seen["shield"] == {"colour": "NONE", "reason": None}, seen


async def test_users_on_the_list_are_accepted_and_a_mismatch_verifies_nothing(
    make_matrix_user: MakeUser, make_adapter: MakeAdapter, make_js_client: MakeJsClient
) -> None:
    bot_user, listed_user, other_user = [await make_matrix_user() for _ in range(3)]
    bot = make_adapter(bot_user, verification=[listed_user.user_id])
    listed, other = await make_js_client(listed_user), await make_js_client(other_user)
    async with Client(bot) as client:
        for peer in (listed, other):
            # A shared room makes their clients track the bot's devices.
            await shared_room(client, bot, peer)
        request = await _request(listed, bot_user.user_id, bot.device_id or "")
        result = await listed.call("verify_sas", request=request["request"], start=True, wait=60)
        assert result["done"] and len(result["emoji"]) == 7, result
        device = await listed.device_status(bot_user.user_id, bot.device_id or "")
        assert device is not None and device["verified"], device

        # Someone not on the list: the bot declines, and their client verifies nothing.
        request = await _request(other, bot_user.user_id, bot.device_id or "")
        with pytest.raises(JsClientError) as refused:
            await other.call("verify_sas", request=request["request"], start=True, wait=60)
        assert "unknown" in str(refused.value), refused.value
        device = await other.device_status(bot_user.user_id, bot.device_id or "")
        assert device is not None and not device["verified"], device


async def test_a_callback_that_says_no_cancels(
    make_matrix_user: MakeUser, make_adapter: MakeAdapter, make_js_client: MakeJsClient
) -> None:
    bot_user, peer_user = await make_matrix_user(), await make_matrix_user()

    async def refuse(sas: SasVerification) -> bool:
        return False

    bot = make_adapter(bot_user, trust_policy="strict", verification=refuse)
    peer = await make_js_client(peer_user)
    async with Client(bot) as client:
        room = await shared_room(client, bot, peer)
        request = await _request(peer, bot_user.user_id, bot.device_id or "")
        result = await peer.call("verify_sas", request=request["request"], start=True, wait=60)
        assert not result["done"], result
        device = await peer.device_status(bot_user.user_id, bot.device_id or "")
        assert device is not None and not device["verified"], device
        with pytest.raises(UnverifiedDevicesError):
            await client.send(room, "still not verified")


async def _user_status(peer: JsClient, user_id: str, *, until: str) -> Any:
    deadline = time.monotonic() + 15
    while True:
        status = await peer.call("user_status", user_id=user_id)
        if status[until] or time.monotonic() > deadline:
            return status
        await anyio.sleep(0.2)


async def _request(peer: JsClient, user_id: str, device_id: str) -> Any:
    """Start a verification of the bot's device once the peer's crypto tracks it."""
    deadline = time.monotonic() + 15
    while True:
        try:
            return await peer.call("verify_request", user_id=user_id, device_id=device_id)
        except JsClientError as exc:
            if "Not a known device" not in str(exc) or time.monotonic() > deadline:
                raise
        await peer.call("user_devices", user_id=user_id)
        await anyio.sleep(0.2)


async def test_trust_with_the_cross_signing_identity(
    make_matrix_user: MakeUser, make_adapter: MakeAdapter, make_js_client: MakeJsClient
) -> None:
    bot_user, peer_user = await make_matrix_user(), await make_matrix_user()
    bot = make_adapter(bot_user, trust_policy="strict", cross_signing=True)
    peer = await make_js_client(peer_user)
    await peer.call("bootstrap_cross_signing", password=peer_user.password)
    address = Address.matrix(peer_user.user_id)
    async with Client(bot) as client:
        room = await shared_room(client, bot, peer)
        identity = await bot.identity(address)
        assert identity is not None and identity == await peer.master_key(peer_user.user_id)
        with pytest.raises(UnverifiedDevicesError):
            await client.trust(address, "AAAA" + identity[4:])
        with pytest.raises(UnverifiedDevicesError):
            await client.send(room, "not yet")
        await client.trust(address, identity)
        sent = await client.send(room, "trusted by identity")
        seen = await peer.wait_event(room.id, event_id=sent.id)
        assert seen["body"] == "trusted by identity", seen
