"""A running adapter's trust verdicts follow new devices, new members and trust changes.

Sends go out under a kept per-room verdict; each test changes what the verdict
depends on while the adapter keeps running, and the very next send must be
handled as by an adapter that checks from scratch.
"""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import pytest
from unimsg_matrix import MatrixAdapter

from unimsg import Address, Client, MessageReceived, UnverifiedDevicesError
from unimsg.testing._waiting import EventWaiter

from .fixtures_adapter import MakeAdapter, MakeUser, make_adapter, store_root
from .synapse import RegisteredUser

__all__ = ["make_adapter", "store_root"]

pytestmark = pytest.mark.asyncio


def new_device(user: RegisteredUser, store: Path) -> MatrixAdapter:
    """``user`` logging in on another device."""
    return MatrixAdapter(
        homeserver=user.homeserver,
        user_id=user.user_id,
        password=user.password,
        store_path=store,
        cross_signing=False,
    )


async def until_device_known(adapter: MatrixAdapter, user: Address, device_id: str) -> None:
    deadline = time.monotonic() + 20
    while device_id not in await adapter.devices(user):
        assert time.monotonic() < deadline, f"{device_id} of {user} never became known"
        await anyio.sleep(0.2)


async def until_member(client: Client, room: Address, user: Address) -> None:
    deadline = time.monotonic() + 20
    while user not in (await client.conversation(room)).members:
        assert time.monotonic() < deadline, f"{user} never showed up in {room}"
        await anyio.sleep(0.2)


@pytest.mark.parametrize("policy", ["tofu", "strict"])
async def test_a_new_device_after_cached_sends(
    policy: str, make_matrix_user: MakeUser, make_adapter: MakeAdapter, store_root: Path
) -> None:
    alice_user, bob_user = await make_matrix_user(), await make_matrix_user()
    alice, bob = make_adapter(alice_user, trust_policy=policy), make_adapter(bob_user)
    async with Client(alice) as a, Client(bob) as b:
        room = await a.create_conversation("matrix", name="kept", members=[bob.account])
        await b.join(room.address)
        await until_member(a, room.address, bob.account)
        if policy == "strict":
            await until_device_known(alice, bob.account, bob_user.device_id)
            await alice.trust_devices(bob.account)
        for n in range(3):
            await a.send(room.address, f"before {n}")
        await EventWaiter(b, 15).next(MessageReceived, lambda e: e.text == "before 2")

        phone = new_device(bob_user, store_root / "bob-phone")
        async with Client(phone):
            assert phone.device_id is not None
            await until_device_known(alice, bob.account, phone.device_id)
            for _ in range(2):
                with pytest.raises(UnverifiedDevicesError) as refused:
                    await a.send(room.address, "never sent")
                assert list(refused.value.users) == [bob.account]
            await alice.trust_devices(bob.account)
            await a.send(room.address, "to both devices")
            got = await EventWaiter(b, 15).next(MessageReceived, lambda e: e.text != "never sent")
            assert got.text == "to both devices" and got.encrypted


async def test_a_new_member_whose_devices_are_already_known(
    make_matrix_user: MakeUser, make_adapter: MakeAdapter
) -> None:
    alice_user, bob_user, carol_user = [await make_matrix_user() for _ in range(3)]
    alice = make_adapter(alice_user, trust_policy="strict")
    bob, carol = make_adapter(bob_user), make_adapter(carol_user)
    async with Client(alice) as a, Client(bob) as b, Client(carol) as c:
        # Alice knows carol's device from another room before carol joins this one.
        elsewhere = await a.create_conversation("matrix", name="elsewhere", members=[carol.account])
        await c.join(elsewhere.address)
        await until_member(a, elsewhere.address, carol.account)
        await until_device_known(alice, carol.account, carol_user.device_id)

        room = await a.create_conversation("matrix", name="kept", members=[bob.account])
        await b.join(room.address)
        await until_member(a, room.address, bob.account)
        await until_device_known(alice, bob.account, bob_user.device_id)
        await alice.trust_devices(bob.account)
        for n in range(3):
            await a.send(room.address, f"before {n}")

        await a.invite(room.address, carol.account)
        await c.join(room.address)
        await until_member(a, room.address, carol.account)
        with pytest.raises(UnverifiedDevicesError) as refused:
            await a.send(room.address, "never sent")
        assert list(refused.value.users) == [carol.account]
        await alice.trust_devices(carol.account)
        await a.send(room.address, "to all three")
        got = await EventWaiter(c, 15).next(MessageReceived, lambda e: e.text == "to all three")
        assert got.encrypted
