import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import attrs
import pytest

import unimsg
from unimsg import (
    Address,
    Attachment,
    Bot,
    Client,
    Contact,
    ContactBook,
    MessageDeleted,
    MessageEdited,
    MessageReceived,
    ReactionReceived,
    Relay,
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

    def relay_client(self, store: Path | None = None) -> Client:
        # A fresh adapter per start: the account (and its unacknowledged
        # events) stays on the network, as a real server keeps them.
        return Client(
            self.net.adapter("signal", RELAY_S), self.net.adapter("matrix", RELAY_M), store=store
        )


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


@asynccontextmanager
async def relaying(
    world: World, store: Path | None = None, contacts: ContactBook = CONTACTS, **options: object
) -> AsyncIterator[Bot]:
    async with world.relay_client(store) as client:
        bot = Bot(client, contacts=contacts)
        bot.relay(world.room, world.group, **options)  # type: ignore[arg-type]
        async with bot:
            yield bot


async def test_text_both_ways_with_attribution(world: World) -> None:
    async with relaying(world):
        await world.alice.send(world.room, "hi from Matrix")
        got = await world.bob_inbox.next(MessageReceived)
        assert (got.conversation, got.text) == (world.group, "Alice: hi from Matrix")
        await world.bob.send(world.group, "hi from Signal")
        got = await world.alice_inbox.next(MessageReceived)
        assert (got.conversation, got.text) == (world.room, "Bob: hi from Signal")


async def test_unknown_senders_are_named_by_address(world: World) -> None:
    async with relaying(world, contacts=ContactBook()):
        await world.alice.send(world.room, "hi")
        got = await world.bob_inbox.next(MessageReceived)
        assert got.text == "@alice:fake.test: hi"


async def test_the_relay_never_mirrors_its_own_copies(world: World) -> None:
    async with relaying(world):
        await world.alice.send(world.room, "once")
        await world.bob_inbox.next(MessageReceived)
        await world.alice_inbox.none(MessageReceived, within=0.1)
        await world.bob_inbox.none(MessageReceived, within=0.05)


async def test_replies_map_across(world: World) -> None:
    async with relaying(world):
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
    async with relaying(world):
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
    async with relaying(world):
        original = await world.alice.send(world.room, "the build is red")
        copy = await world.bob_inbox.next(MessageReceived)
        await world.alice.edit(original, "the build is green")
        edited = await world.bob_inbox.next(MessageEdited)
        assert (edited.target.id, edited.text) == (copy.id, "Alice: the build is green")
        await world.alice.delete(original)
        deleted = await world.bob_inbox.next(MessageDeleted)
        assert deleted.target.id == copy.id


async def test_attachments_are_carried_over(world: World) -> None:
    async with relaying(world):
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
    async with relaying(world, store):
        await world.alice.send(world.room, "before")
        await world.bob_inbox.next(MessageReceived)
    await world.alice.send(world.room, "while down")
    async with relaying(world, store):
        got = await world.bob_inbox.next(MessageReceived)
        assert got.text == "Alice: while down"
        await world.bob_inbox.none(MessageReceived, within=0.1)
    assert stat.S_IMODE(store.stat().st_mode) == 0o600


async def test_a_crash_before_the_ack_does_not_duplicate(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "relay.sqlite"
    async with world.relay_client(store) as client:

        async def crash_before_ack(event: unimsg.Event) -> None:
            pass  # mirrored and recorded, but the process dies before acknowledging

        monkeypatch.setattr(client, "ack", crash_before_ack)
        bot = Bot(client, contacts=CONTACTS)
        bot.relay(world.room, world.group)
        async with bot:
            original = await world.alice.send(world.room, "exactly once")
            copy = await world.bob_inbox.next(MessageReceived)
    async with relaying(world, store):
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
        bot = Bot(client)
        bot.relay(world.group, plain)
        with pytest.raises(unimsg.EncryptionRequiredError, match="allow_downgrade"):
            async with bot:
                pass
        with pytest.raises(unimsg.EncryptionRequiredError, match="allow_downgrade"):
            await bot.run()
    async with world.relay_client() as client:
        bot = Bot(client)
        bot.relay(world.group, plain, allow_downgrade=True)
        async with bot:
            await world.bob.send(world.group, "fine")
            got = await world.alice_inbox.next(MessageReceived)
            assert (got.conversation, got.text, got.encrypted) == (
                plain,
                "+15550000002: fine",
                False,
            )


async def test_two_relays_and_commands_share_one_bot(world: World, tmp_path: Path) -> None:
    relay_m = world.net.adapter("matrix", RELAY_M)
    relay_s = world.net.adapter("signal", RELAY_S)
    carol = world.net.adapter("matrix", "matrix:@carol:fake.test")
    dave = world.net.adapter("signal", "signal:+15550000004")
    room2 = world.net.create_room("matrix", creator=relay_m.account, members=[carol.account])
    group2 = world.net.create_room("signal", creator=relay_s.account, members=[dave.account])
    async with (
        Client(carol) as c,
        Client(dave) as d,
        world.relay_client(tmp_path / "relays.sqlite") as client,
    ):
        bot = Bot(client, contacts=CONTACTS)
        bot.relay(world.room, world.group, name="first")
        bot.relay(room2, group2, name="second")

        @bot.command("ping")
        async def ping(ctx: unimsg.Context[MessageReceived]) -> None:
            await ctx.reply("pong")

        async with bot:
            await world.alice.send(world.room, "to the first group")
            await c.send(room2, "to the second group")
            assert (await world.bob_inbox.next(MessageReceived)).text == "Alice: to the first group"
            dave_inbox = EventWaiter(d, timeout=3)
            dave_got = await dave_inbox.next(MessageReceived)
            assert dave_got.conversation == group2
            assert dave_got.text == "@carol:fake.test: to the second group"
            # A command in a relayed conversation is mirrored and answered.
            await d.send(group2, "!ping")
            pong = await dave_inbox.next(MessageReceived, lambda e: e.text == "pong")
            assert pong.conversation == group2
            await world.bob_inbox.none(MessageReceived, within=0.1)


async def test_a_second_reader_of_the_relay_client_is_refused(world: World) -> None:
    async with relaying(world) as bot:
        with pytest.raises(unimsg.ConcurrentReaderError, match="one reader"):
            await anext(bot.client.events())
        await world.alice.send(world.room, "still mirrored")
        assert (await world.bob_inbox.next(MessageReceived)).text == "Alice: still mirrored"


def test_relay_arguments_are_checked() -> None:
    net = FakeNetwork()
    bot = Bot(Client(net.adapter("signal", RELAY_S)))
    with pytest.raises(unimsg.UsageError, match="two different"):
        bot.relay(BOB_S, BOB_S)
    relay = bot.relay(BOB_S, ALICE_M)
    assert isinstance(relay, Relay) and bot.relays == (relay,)
    with pytest.raises(unimsg.UsageError, match="named"):
        bot.relay(BOB_S, ALICE_M)
    with pytest.raises(unimsg.UsageError, match="not running"):
        relay.client  # noqa: B018
