"""unimsg and a plain matrix-nio client understand each other; conversations and invites."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import anyio
import nio
import pytest
from unimsg_matrix import MatrixAdapter

from unimsg import (
    Client,
    EncryptionStateChanged,
    Membership,
    MembershipChanged,
    MessageReceived,
    UnverifiedDevicesError,
)
from unimsg.testing._waiting import EventWaiter

from .fixtures_adapter import MakeAdapter, MakeUser, make_adapter, store_root
from .synapse import RegisteredUser

__all__ = ["make_adapter", "store_root"]

pytestmark = pytest.mark.asyncio

NIO_CONFIG = nio.AsyncClientConfig(
    encryption_enabled=False, max_limit_exceeded=0, max_timeouts=0, request_timeout=30
)


def raw_client(user: RegisteredUser) -> nio.AsyncClient:
    client = nio.AsyncClient(user.homeserver, user.user_id, config=NIO_CONFIG)
    client.restore_login(user.user_id, user.device_id, user.access_token)
    return client


async def test_raw_nio_and_unimsg_exchange_messages(
    make_matrix_user: MakeUser, make_adapter: MakeAdapter
) -> None:
    alice_user, raw_user = await make_matrix_user(), await make_matrix_user()
    alice = make_adapter(alice_user)
    raw = raw_client(raw_user)
    try:
        async with Client(alice) as a:
            created = await raw.room_create(name="interop", invite=[alice_user.user_id])
            assert isinstance(created, nio.RoomCreateResponse), created
            inbox = EventWaiter(a, 15)
            invited = await inbox.next(MembershipChanged, lambda e: e.member == alice.account)
            assert invited.membership is Membership.INVITED
            assert str(invited.conversation) == f"matrix:{created.room_id}"
            # The default invite policy accepts; wait until the join is visible.
            deadline = time.monotonic() + 15
            while alice.account not in (await a.conversation(invited.conversation)).members:
                assert time.monotonic() < deadline
                await EventWaiter(a, 0.5).none(MessageReceived, within=0.2)
            text = f"from nio {uuid.uuid4().hex}"
            sent = await raw.room_send(
                created.room_id,
                "m.room.message",
                {"msgtype": "m.notice", "body": text},
            )
            assert isinstance(sent, nio.RoomSendResponse), sent
            got = await inbox.next(MessageReceived, lambda e: e.text == text)
            assert got.id == sent.event_id and got.sender.id == raw_user.user_id

            mine = await a.send(invited.conversation, "**from unimsg**", format="markdown")
            deadline = time.monotonic() + 15
            seen = None
            while seen is None and time.monotonic() < deadline:
                response = await raw.sync(timeout=1000)
                assert isinstance(response, nio.SyncResponse), response
                room = response.rooms.join.get(created.room_id)
                for event in room.timeline.events if room else []:
                    if event.event_id == mine.id:
                        seen = event
            assert isinstance(seen, nio.RoomMessageText), seen
            assert seen.body == "**from unimsg**"
            assert seen.formatted_body == "<strong>from unimsg</strong>"
    finally:
        await raw.close()


async def test_invite_policy_never_leaves_the_invite_pending(
    make_matrix_user: MakeUser, make_adapter: MakeAdapter
) -> None:
    alice_user, bob_user = await make_matrix_user(), await make_matrix_user()
    alice, bob = make_adapter(alice_user), make_adapter(bob_user, invite_policy="never")
    async with Client(alice) as a, Client(bob) as b:
        room = await a.create_conversation("matrix", name="maybe", members=[bob.account])
        invite = await EventWaiter(b, 15).next(MembershipChanged)
        assert invite.membership is Membership.INVITED and invite.conversation == room.address
        listed = {c.address: c for c in await b.conversations()}
        assert listed[room.address].invited
        joined = await b.join(room.address)
        assert not joined.invited and bob.account in joined.members
        assert alice.account in (await b.conversation(room.address)).members


async def test_find_users_and_encryption_state(
    make_matrix_user: MakeUser, make_adapter: MakeAdapter
) -> None:
    alice_user, bob_user = await make_matrix_user(), await make_matrix_user()
    alice, bob = make_adapter(alice_user), make_adapter(bob_user)
    async with Client(alice) as a, Client(bob) as b:
        room = await a.create_conversation("matrix", name="keys", members=[bob.account])
        await b.join(room.address)
        found = await a.find_users("matrix", bob_user.localpart)
        assert bob.account in [u.address for u in found]
        state = await a.encryption_state(room.address)
        assert state.encrypted and state.scheme == "m.megolm.v1.aes-sha2" and state.can_decrypt
        # Nobody verified anybody: bob shows up as unverified once his keys are known.
        await a.send(room.address, "key exchange")
        state = await a.encryption_state(room.address)
        assert bob.account in state.unverified and not state.changed


async def test_trust_policies(
    make_matrix_user: MakeUser, make_adapter: MakeAdapter, store_root: Path
) -> None:
    alice_user, bob_user = await make_matrix_user(), await make_matrix_user()
    strict = make_adapter(alice_user, trust_policy="strict")
    bob = make_adapter(bob_user)
    async with Client(strict) as a, Client(bob) as b:
        room = await a.create_conversation("matrix", name="trust", members=[bob.account])
        await b.join(room.address)
        with pytest.raises(UnverifiedDevicesError) as refused:
            await a.send(room.address, "never sent")
        assert bob.account in refused.value.users
        fingerprints = await strict.devices(bob.account)
        assert list(fingerprints) == [bob_user.device_id]
        await strict.trust_devices(bob.account)
        await a.send(room.address, "verified now")
        verified = await EventWaiter(b, 15).next(MessageReceived)
        assert verified.text == "verified now" and verified.encrypted

    # tofu (the default) pins the devices bob has when alice first sees them.
    async with Client(make_adapter(alice_user)) as a, Client(bob) as b:
        await a.send(room.address, "pinned")
        await EventWaiter(b, 15).next(MessageReceived, lambda e: e.text == "pinned")

    # Bob logs in on a phone: a new device of a pinned user is refused until accepted.
    phone = MatrixAdapter(
        homeserver=bob_user.homeserver,
        user_id=bob_user.user_id,
        password=bob_user.password,
        store_path=store_root / "bob-phone",
        cross_signing=False,
    )
    alice = make_adapter(alice_user)
    async with Client(phone), Client(alice) as a:
        deadline = time.monotonic() + 15
        while True:
            try:
                await a.send(room.address, "after the new device")
            except UnverifiedDevicesError as exc:
                assert bob.account in exc.users
                break
            assert time.monotonic() < deadline, "the new device was never noticed"
            await anyio.sleep(0.2)
        state = await a.encryption_state(room.address)
        assert bob.account in state.changed
        await alice.trust_devices(bob.account)
        assert bob.account not in (await a.encryption_state(room.address)).changed
        await a.send(room.address, "accepted")

    # A device added while alice runs is announced.
    alice = make_adapter(alice_user)
    tablet = MatrixAdapter(
        homeserver=bob_user.homeserver,
        user_id=bob_user.user_id,
        password=bob_user.password,
        store_path=store_root / "bob-tablet",
        cross_signing=False,
    )
    async with Client(alice) as a:
        async with Client(tablet):
            announced = await EventWaiter(a, 15).next(
                EncryptionStateChanged, lambda e: e.member == bob.account
            )
        assert announced.conversation == room.address
        assert bob.account in announced.state.changed

    async with Client(make_adapter(alice_user, trust_policy="always")) as a:
        await a.send(room.address, "whatever the devices")
