"""The independent client itself: two js-sdk devices verify each other by SAS (emoji)."""

from __future__ import annotations

import asyncio
from typing import Any

import anyio
import pytest

from .jsclient import MakeJsClient

pytestmark = pytest.mark.asyncio


async def test_two_js_clients_verify_each_other_by_emoji(
    make_matrix_user: Any, make_js_client: MakeJsClient
) -> None:
    alice_user, bob_user = await make_matrix_user(), await make_matrix_user()
    alice, bob = await make_js_client(alice_user), await make_js_client(bob_user)
    for client, user in ((alice, alice_user), (bob, bob_user)):
        ready = await client.call("bootstrap_cross_signing", password=user.password)
        assert ready == {"ready": True}
    room = await alice.create_room(invite=[bob.user_id])
    await bob.call("join", room_id=room)
    await alice.call("wait_members", room_id=room, users=[bob.user_id])
    # Each must know the other's devices before a to-device request.
    assert bob.device_id in await alice.call("user_devices", user_id=bob.user_id)
    assert alice.device_id in await bob.call("user_devices", user_id=alice.user_id)
    request = await alice.call("verify_request", user_id=bob.user_id, device_id=bob.device_id)
    incoming = await bob.call("verify_incoming", user_id=alice.user_id)
    assert incoming["other_device"] == alice.device_id
    shown_alice, shown_bob = await asyncio.gather(
        alice.call("verify_sas", request=request["request"], start=True),
        bob.call("verify_sas", request=incoming["request"], start=False),
    )
    assert shown_alice["done"] and shown_bob["done"], (shown_alice, shown_bob)
    assert shown_alice["emoji"] == shown_bob["emoji"] and len(shown_alice["emoji"]) == 7
    device = await alice.device_status(bob.user_id, bob.device_id)
    assert device is not None and device["verified"], device
    # Alice's client then signs Bob's master key with her user-signing key.
    with anyio.fail_after(15):
        while True:
            if (await alice.call("user_status", user_id=bob.user_id))["verified"]:
                break
            await anyio.sleep(0.2)
