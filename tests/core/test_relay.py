import stat
from collections.abc import AsyncIterator
from pathlib import Path

import attrs
import pytest

import unimsg
from unimsg import (
    Address,
    Attachment,
    Client,
    Contact,
    ContactBook,
    MessageDeleted,
    MessageEdited,
    MessageReceived,
    ReactionReceived,
    Relay,
    RelayGroup,
)
from unimsg.testing import FakeNetwork
from unimsg.testing._waiting import EventWaiter

pytestmark = pytest.mark.anyio

RELAY_S = "signal:+15550000100"
RELAY_M = "matrix:@relay:fake.test"
ALICE_M = "matrix:@alice:fake.test"
BOB_S = "signal:+15550000002"
CONTACTS = ContactBook.of(Contact.of("Alice", ALICE_M), Contact.of("Bob", BOB_S))


@attrs.define
class World:
    net: FakeNetwork
    room: Address
    group: Address
    alice: Client
    bob: Client
    alice_inbox: EventWaiter
    bob_inbox: EventWaiter

    def relay_client(self) -> Client:
        # A fresh adapter per start: the account (and its unacknowledged
        # events) stays on the network, as a real server keeps them.
        return Client(self.net.adapter("signal", RELAY_S), self.net.adapter("matrix", RELAY_M))


@pytest.fixture
async def world() -> AsyncIterator[World]:
    net = FakeNetwork()
    alice = net.adapter("matrix", ALICE_M)
    bob = net.adapter("signal", BOB_S)
    relay_m = net.adapter("matrix", RELAY_M)
    relay_s = net.adapter("signal", RELAY_S)
    room = net.create_room("matrix", creator=relay_m.account, members=[ALICE_M], name="ops")
    group = net.create_room("signal", creator=relay_s.account, members=[BOB_S], name="ops")
    async with Client(alice) as a, Client(bob) as b:
        yield World(net, room, group, a, b, EventWaiter(a, timeout=3), EventWaiter(b, timeout=3))


def relay_of(client: Client, world: World, **options: object) -> Relay:
    return Relay(client, world.room, world.group, contacts=CONTACTS, **options)  # type: ignore[arg-type]


async def test_text_both_ways_with_attribution(world: World) -> None:
    async with world.relay_client() as client, relay_of(client, world):
        await world.alice.send(world.room, "hi from Matrix")
        got = await world.bob_inbox.next(MessageReceived)
        assert (got.conversation, got.text) == (world.group, "Alice: hi from Matrix")
        await world.bob.send(world.group, "hi from Signal")
        got = await world.alice_inbox.next(MessageReceived)
        assert (got.conversation, got.text) == (world.room, "Bob: hi from Signal")


async def test_unknown_senders_are_named_by_address(world: World) -> None:
    async with world.relay_client() as client, Relay(client, world.room, world.group):
        await world.alice.send(world.room, "hi")
        got = await world.bob_inbox.next(MessageReceived)
        assert got.text == "@alice:fake.test: hi"


async def test_the_relay_never_mirrors_its_own_copies(world: World) -> None:
    async with world.relay_client() as client, relay_of(client, world):
        await world.alice.send(world.room, "once")
        await world.bob_inbox.next(MessageReceived)
        await world.alice_inbox.none(MessageReceived, within=0.1)
        await world.bob_inbox.none(MessageReceived, within=0.05)


async def test_replies_map_across(world: World) -> None:
    async with world.relay_client() as client, relay_of(client, world):
        original = await world.alice.send(world.room, "deploy?")
        copy = await world.bob_inbox.next(MessageReceived)
        await world.bob.reply(copy, "yes")
        answer = await world.alice_inbox.next(MessageReceived)
        assert answer.text == "Bob: yes"
        assert answer.reply_to is not None and answer.reply_to.id == original.id
        # And back: Alice answers the copy of Bob's reply; Bob sees a reply to his own.
        bob_reply = await world.bob.send(world.group, "really", reply_to=copy)
        mirrored = await world.alice_inbox.next(MessageReceived, lambda e: e.text == "Bob: really")
        await world.alice.reply(mirrored, "ok")
        back = await world.bob_inbox.next(MessageReceived)
        assert back.reply_to is not None and back.reply_to.id == bob_reply.id


async def test_reactions_follow_both_ways(world: World) -> None:
    async with world.relay_client() as client, relay_of(client, world):
        original = await world.alice.send(world.room, "lunch?")
        copy = await world.bob_inbox.next(MessageReceived)
        await world.bob.react(copy, "👍")
        got = await world.alice_inbox.next(ReactionReceived)
        assert (got.target.id, got.emoji, got.removed) == (original.id, "👍", False)
        await world.bob.react(copy, "👍", remove=True)
        got = await world.alice_inbox.next(ReactionReceived)
        assert got.removed
        # A reaction on an original reaches its copy.
        mine = await world.bob.send(world.group, "me too")
        mirrored = await world.alice_inbox.next(MessageReceived)
        await world.alice.react(mirrored, "🎉")
        got = await world.bob_inbox.next(ReactionReceived)
        assert (got.target.id, got.emoji) == (mine.id, "🎉")


async def test_edits_and_deletes_follow(world: World) -> None:
    async with world.relay_client() as client, relay_of(client, world):
        original = await world.alice.send(world.room, "the build is red")
        copy = await world.bob_inbox.next(MessageReceived)
        await world.alice.edit(original, "the build is green")
        edited = await world.bob_inbox.next(MessageEdited)
        assert (edited.target.id, edited.text) == (copy.id, "Alice: the build is green")
        await world.alice.delete(original)
        deleted = await world.bob_inbox.next(MessageDeleted)
        assert deleted.target.id == copy.id


async def test_attachments_are_carried_over(world: World) -> None:
    async with world.relay_client() as client, relay_of(client, world):
        photo = Attachment(data=b"\x89PNG...", filename="graph.png", mime_type="image/png")
        await world.bob.send(world.group, "", attachments=[photo])
        got = await world.alice_inbox.next(MessageReceived)
        assert got.text == "Bob sent graph.png"
        [carried] = got.attachments
        assert carried.filename == "graph.png" and carried.mime_type == "image/png"
        assert await world.alice.download(carried, "matrix") == b"\x89PNG..."


async def test_a_message_sent_while_down_is_mirrored_once_after_restart(
    world: World, tmp_path: Path
) -> None:
    store = tmp_path / "relay.sqlite"
    async with world.relay_client() as client, relay_of(client, world, store=store):
        await world.alice.send(world.room, "before")
        await world.bob_inbox.next(MessageReceived)
    await world.alice.send(world.room, "while down")
    async with world.relay_client() as client, relay_of(client, world, store=store):
        got = await world.bob_inbox.next(MessageReceived)
        assert got.text == "Alice: while down"
        await world.bob_inbox.none(MessageReceived, within=0.1)
    assert stat.S_IMODE(store.stat().st_mode) == 0o600


async def test_a_crash_before_the_ack_does_not_duplicate(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "relay.sqlite"
    async with world.relay_client() as client:

        async def crash_before_ack(event: unimsg.Event) -> None:
            pass  # mirrored and recorded, but the process dies before acknowledging

        monkeypatch.setattr(client, "ack", crash_before_ack)
        async with relay_of(client, world, store=store):
            original = await world.alice.send(world.room, "exactly once")
            copy = await world.bob_inbox.next(MessageReceived)
    async with world.relay_client() as client, relay_of(client, world, store=store):
        # The redelivered message is in the id map: nothing is sent again,
        # and what follows still finds its copy.
        await world.alice.edit(original, "exactly once, edited")
        edited = await world.bob_inbox.next(MessageEdited)
        assert edited.target.id == copy.id
        assert [e for e in world.bob_inbox.skipped if isinstance(e, MessageReceived)] == []


async def test_encrypted_to_plaintext_is_refused_unless_allowed(world: World) -> None:
    relay_m = world.net.adapter("matrix", RELAY_M)
    plain = world.net.create_room(
        "matrix", creator=relay_m.account, members=[ALICE_M], encrypted=False
    )
    async with world.relay_client() as client:
        with pytest.raises(unimsg.EncryptionRequiredError, match="allow_downgrade"):
            async with Relay(client, world.group, plain):
                pass
    async with (
        world.relay_client() as client,
        Relay(client, world.group, plain, allow_downgrade=True),
    ):
        await world.bob.send(world.group, "fine")
        got = await world.alice_inbox.next(MessageReceived)
        assert (got.conversation, got.text, got.encrypted) == (plain, "+15550000002: fine", False)


async def test_two_relays_share_one_client(world: World, tmp_path: Path) -> None:
    relay_m = world.net.adapter("matrix", RELAY_M)
    relay_s = world.net.adapter("signal", RELAY_S)
    carol = world.net.adapter("matrix", "matrix:@carol:fake.test")
    dave = world.net.adapter("signal", "signal:+15550000004")
    room2 = world.net.create_room("matrix", creator=relay_m.account, members=[carol.account])
    group2 = world.net.create_room("signal", creator=relay_s.account, members=[dave.account])
    store = tmp_path / "relays.sqlite"
    async with (
        Client(carol) as c,
        Client(dave) as d,
        world.relay_client() as client,
        RelayGroup(
            client,
            [
                relay_of(client, world, store=store, name="first"),
                Relay(client, room2, group2, store=store, name="second"),
            ],
        ),
    ):
        await world.alice.send(world.room, "to the first group")
        await c.send(room2, "to the second group")
        assert (await world.bob_inbox.next(MessageReceived)).text == "Alice: to the first group"
        dave_got = await EventWaiter(d, timeout=3).next(MessageReceived)
        assert dave_got.conversation == group2
        assert dave_got.text == "@carol:fake.test: to the second group"
        await world.bob_inbox.none(MessageReceived, within=0.1)


def test_relay_arguments_are_checked() -> None:
    net = FakeNetwork()
    client = Client(net.adapter("signal", RELAY_S))
    with pytest.raises(ValueError, match="two different"):
        Relay(client, BOB_S, BOB_S)
    relay = Relay(client, BOB_S, ALICE_M)
    with pytest.raises(ValueError, match="names must differ"):
        RelayGroup(client, [relay, Relay(client, BOB_S, ALICE_M)])
    with pytest.raises(unimsg.UsageError, match="not running"):
        relay.idmap  # noqa: B018
