"""Start, stop and restart: sync position, history, devices, echoes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from unimsg_matrix import MatrixAdapter

from unimsg import Client, MessageReceived
from unimsg.testing._waiting import EventWaiter

from .fixtures_adapter import MakeAdapter, MakeUser, make_adapter, store_root
from .synapse import RegisteredUser

__all__ = ["make_adapter", "store_root"]

pytestmark = pytest.mark.asyncio


async def _shared_room(a: Client, b: Client, peer: MatrixAdapter, encrypted: bool = False) -> str:
    room = await a.create_conversation(
        "matrix", name="lifecycle", members=[peer.account], encrypted=encrypted
    )
    await b.join(room.address)
    return str(room.address)


def password_adapter(user: RegisteredUser, store: Path, **settings: object) -> MatrixAdapter:
    settings.setdefault("cross_signing", False)
    return MatrixAdapter(
        homeserver=user.homeserver,
        user_id=user.user_id,
        password=user.password,
        store_path=store,
        sync_timeout_ms=10_000,
        **settings,
    )


@pytest.mark.parametrize("timeline_limit", [50, 5], ids=["one-sync", "paginated-gap"])
async def test_messages_sent_while_down_arrive_once(
    timeline_limit: int, make_matrix_user: MakeUser, make_adapter: MakeAdapter
) -> None:
    alice_user, bob_user = await make_matrix_user(), await make_matrix_user()
    bob = make_adapter(bob_user)
    alice = make_adapter(alice_user, timeline_limit=timeline_limit)
    async with Client(alice) as a, Client(bob) as b:
        room = await _shared_room(a, b, bob, encrypted=True)
        await b.send(room, "before")
        inbox = EventWaiter(a, 15)
        await inbox.next(MessageReceived, lambda e: e.text == "before")
        await inbox.none(MessageReceived, within=0.3)
    async with Client(bob) as b:
        texts = [f"while down {i}" for i in range(20)]
        for text in texts:
            await b.send(room, text)
    restarted = make_adapter(alice_user, timeline_limit=timeline_limit)
    async with Client(restarted) as a:
        inbox = EventWaiter(a, 15)
        seen = [
            (await inbox.next(MessageReceived, lambda e: e.text.startswith("while down"))).text
            for _ in texts
        ]
        assert seen == texts
        await inbox.none(MessageReceived, within=1.0)
        decrypted = [e for e in inbox.skipped if isinstance(e, MessageReceived)]
        assert all(e.encrypted for e in decrypted)


async def test_unacknowledged_event_is_delivered_again(
    make_matrix_user: MakeUser, make_adapter: MakeAdapter
) -> None:
    alice_user, bob_user = await make_matrix_user(), await make_matrix_user()
    alice, bob = make_adapter(alice_user), make_adapter(bob_user)
    async with Client(alice) as a, Client(bob) as b:
        room = await _shared_room(a, b, bob)
        sent = await b.send(room, "handle me")
        # The handler "crashes": the event is taken but the loop never asks for the next one.
        first = await EventWaiter(a, 15).next(MessageReceived, lambda e: e.text == "handle me")
        assert first.id == sent.id
    async with Client(make_adapter(alice_user)) as a:
        inbox = EventWaiter(a, 15)
        again = await inbox.next(MessageReceived, lambda e: e.text == "handle me")
        assert again.id == sent.id
        await inbox.none(MessageReceived, within=0.5)
    # Acknowledged (the loop moved on, then closed): not delivered a third time.
    async with Client(make_adapter(alice_user)) as a:
        await EventWaiter(a, 15).none(MessageReceived, within=1.0)


@pytest.mark.parametrize("replay", [False, True], ids=["skip-history", "replay-history"])
async def test_first_start_skips_history_unless_asked(
    replay: bool, make_matrix_user: MakeUser, make_adapter: MakeAdapter, tmp_path: Path
) -> None:
    alice_user, bob_user = await make_matrix_user(), await make_matrix_user()
    alice, bob = make_adapter(alice_user), make_adapter(bob_user)
    async with Client(alice) as a, Client(bob) as b:
        room = await _shared_room(a, b, bob)
        await b.send(room, "old news")
        await EventWaiter(a, 15).next(MessageReceived, lambda e: e.text == "old news")
    # A second device of alice starts with an empty store.
    fresh = password_adapter(alice_user, tmp_path / "fresh", replay_history=replay)
    async with Client(fresh) as a:
        inbox = EventWaiter(a, 15)
        if replay:
            got = await inbox.next(MessageReceived, lambda e: e.text == "old news")
            assert not got.from_self
        else:
            await inbox.none(MessageReceived, within=1.0)


async def test_password_login_reuses_its_device_and_sees_own_other_devices(
    make_matrix_user: MakeUser, make_adapter: MakeAdapter, tmp_path: Path
) -> None:
    alice_user, bob_user = await make_matrix_user(), await make_matrix_user()
    main, bob = make_adapter(alice_user), make_adapter(bob_user)
    second = password_adapter(alice_user, tmp_path / "second")
    async with Client(main) as a, Client(bob) as b:
        room = await _shared_room(a, b, bob, encrypted=True)
        async with Client(second) as a2:
            device = second.device_id
            assert device is not None and device != alice_user.device_id
            sent = await a2.send(room, "from my laptop")
            got = await EventWaiter(a, 15).next(
                MessageReceived, lambda e: e.text == "from my laptop"
            )
            assert got.from_self and got.id == sent.id
            await b.send(room, "to everyone")
            inbox2 = EventWaiter(a2, 15)
            await inbox2.next(MessageReceived, lambda e: e.text == "to everyone")
            # A device never hears its own messages back.
            assert not any(
                isinstance(e, MessageReceived) and e.text == "from my laptop"
                for e in inbox2.skipped
            )
        again = password_adapter(alice_user, tmp_path / "second")
        async with Client(again):
            assert again.device_id == device


@pytest.mark.parametrize("encrypted", [False, True], ids=["plaintext", "encrypted"])
async def test_restart_with_nothing_new_still_knows_its_rooms(
    encrypted: bool, make_matrix_user: MakeUser, make_adapter: MakeAdapter
) -> None:
    alice_user, bob_user = await make_matrix_user(), await make_matrix_user()
    bob = make_adapter(bob_user)
    async with Client(bob) as b:
        bob_inbox = EventWaiter(b, 15)
        async with Client(make_adapter(alice_user)) as a:
            room = await _shared_room(a, b, bob, encrypted=encrypted)
            await a.send(room, "first run")
            await bob_inbox.next(MessageReceived, lambda e: e.text == "first run")
            # Let alice's sync pass her own echo, so that nothing is new when she restarts.
            await EventWaiter(a, 15).none(MessageReceived, within=1.5)
        state = make_adapter(alice_user).config.store_path / "state.json"
        assert json.loads(state.read_text())["sync_token"]
        async with Client(make_adapter(alice_user)) as a:
            await a.send(room, "second run")
            got = await bob_inbox.next(MessageReceived, lambda e: e.text == "second run")
            assert got.encrypted is encrypted
