import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import anyio
import attrs
import pytest

import unimsg
from unimsg import Bot, Client, ContactBook, Context, MessageReceived
from unimsg._bot import _own
from unimsg.testing import FakeNetwork
from unimsg.testing._waiting import EventWaiter

pytestmark = pytest.mark.anyio

BOT = "signal:+15550000100"
ALICE = "signal:+15550000001"


@attrs.define
class World:
    net: FakeNetwork
    bot: Client
    alice: Client
    inbox: EventWaiter


@pytest.fixture
async def world() -> AsyncIterator[World]:
    net = FakeNetwork()
    async with (
        Client(net.adapter("signal", BOT)) as bot,
        Client(net.adapter("signal", ALICE)) as alice,
    ):
        yield World(net, bot, alice, EventWaiter(alice, timeout=3))


async def reply_text(world: World) -> str:
    return (await world.inbox.next(MessageReceived)).text


async def test_command_gets_context_and_args(world: World) -> None:
    bot = Bot(world.bot, contacts=ContactBook.of(unimsg.Contact.of("Alice", ALICE)))
    seen: list[Context[MessageReceived]] = []

    @bot.command("deploy", "ship")
    async def deploy(ctx: Context[MessageReceived]) -> None:
        seen.append(ctx)
        await ctx.reply(f"deploying {' '.join(ctx.args)} for {ctx.contact and ctx.contact.name}")

    async with bot:
        await world.alice.send(BOT, "!deploy staging")
        assert await reply_text(world) == "deploying staging for Alice"
        await world.alice.send(BOT, '!SHIP "api gateway" --now')
        assert await reply_text(world) == "deploying api gateway --now for Alice"
    assert [c.args for c in seen] == [("staging",), ("api gateway", "--now")]
    assert [c.command for c in seen] == ["deploy", "ship"]
    assert seen[0].sender == world.alice.adapter("signal").account
    assert seen[0].conversation == seen[0].sender  # a Signal DM is the peer's address


async def test_unknown_command_and_help(world: World) -> None:
    bot = Bot(world.bot)

    @bot.command("status")
    async def status(ctx: Context[MessageReceived]) -> None:
        await ctx.reply("green")

    async with bot:
        await world.alice.send(BOT, "!nope")
        assert await reply_text(world) == "unknown command !nope; try !help"
        await world.alice.send(BOT, "!help")
        assert await reply_text(world) == "commands: !status"
        # A lone prefix or "! word" is not a command.
        await world.alice.send(BOT, "! status")
        await world.inbox.none(MessageReceived, within=0.1)


async def test_unknown_commands_can_stay_silent(world: World) -> None:
    async with Bot(world.bot, reply_unknown=False):
        await world.alice.send(BOT, "!nope")
        await world.inbox.none(MessageReceived, within=0.1)


async def test_patterns_and_event_types(world: World) -> None:
    bot = Bot(world.bot)
    reactions: list[str] = []
    reacted_once = anyio.Event()

    @bot.on_message(r"ticket (\d+)")
    async def ticket(ctx: Context[MessageReceived]) -> None:
        assert ctx.match is not None
        await ctx.react("👀")
        await ctx.reply(f"looking at #{ctx.match.group(1)}")

    @bot.on_message()
    async def everything(ctx: Context[MessageReceived]) -> None:
        await ctx.set_typing(True)

    @bot.on(unimsg.ReactionReceived)
    async def reacted(ctx: Context[unimsg.ReactionReceived]) -> None:
        reactions.append(ctx.event.emoji)
        reacted_once.set()

    async with bot:
        sent = await world.alice.send(BOT, "please check ticket 42")
        reaction = await world.inbox.next(unimsg.ReactionReceived)
        assert reaction.target.id == sent.id and reaction.emoji == "👀"
        answer = await world.inbox.next(MessageReceived)
        assert answer.text == "looking at #42"
        await world.inbox.next(unimsg.TypingChanged)
        await world.alice.react(answer, "👍")
        with anyio.fail_after(2):
            await reacted_once.wait()
    assert reactions == ["👍"]


async def test_a_slow_handler_does_not_delay_a_fast_one(world: World) -> None:
    bot = Bot(world.bot)
    release = anyio.Event()

    @bot.command("slow")
    async def slow(ctx: Context[MessageReceived]) -> None:
        await release.wait()
        await ctx.reply("slow done")

    @bot.command("fast")
    async def fast(ctx: Context[MessageReceived]) -> None:
        await ctx.reply("fast done")

    async with bot:
        await world.alice.send(BOT, "!slow")
        await world.alice.send(BOT, "!fast")
        assert await reply_text(world) == "fast done"
        # The slow event is unfinished, so neither it nor the fast one after it
        # is acknowledged yet: a crash now would redeliver both.
        assert world.net.account(BOT).position == 0
        release.set()
        assert await reply_text(world) == "slow done"
    assert world.net.account(BOT).position == 2


async def test_a_handled_event_is_committed_while_the_bot_idles(world: World) -> None:
    bot = Bot(world.bot)

    @bot.command("ping")
    async def ping(ctx: Context[MessageReceived]) -> None:
        await anyio.sleep(0.05)  # finishes after the reader went back to waiting
        await ctx.reply("pong")

    async with bot:
        await world.alice.send(BOT, "!ping")
        assert await reply_text(world) == "pong"
        for _ in range(300):  # polled: the fake network has no event for an acknowledgement
            if world.net.account(BOT).position == 1:
                break
            await anyio.sleep(0.01)
        # Still running: committed by the handler, not by the bot or client closing.
        assert world.net.account(BOT).position == 1


async def test_the_concurrency_bound_is_honoured(world: World) -> None:
    bot = Bot(world.bot, max_concurrency=2)
    running = peak = handled = 0
    release, two_running, all_done = anyio.Event(), anyio.Event(), anyio.Event()

    @bot.on_message()
    async def work(ctx: Context[MessageReceived]) -> None:
        nonlocal running, peak, handled
        running += 1
        peak = max(peak, running)
        if running == 2:
            two_running.set()
        await release.wait()
        running -= 1
        handled += 1
        if handled == 6:
            all_done.set()

    async with bot:
        for n in range(6):
            await world.alice.send(BOT, f"job {n}")
        with anyio.fail_after(2):
            await two_running.wait()
        await anyio.sleep(0.05)
        assert running == 2
        release.set()
        with anyio.fail_after(2):
            await all_done.wait()
    assert peak == 2


async def test_a_failing_handler_is_logged_by_id_and_the_bot_goes_on(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    bot = Bot(world.bot)

    @bot.command("crash")
    async def crash(ctx: Context[MessageReceived]) -> None:
        raise RuntimeError("handler bug")

    @bot.command("ping")
    async def ping(ctx: Context[MessageReceived]) -> None:
        await ctx.reply("pong")

    with caplog.at_level(logging.ERROR, logger="unimsg.bot"):
        async with bot:
            sent = await world.alice.send(BOT, "!crash my secret password")
            await world.alice.send(BOT, "!ping")
            assert await reply_text(world) == "pong"
    [record] = [r for r in caplog.records if r.name == "unimsg.bot"]
    assert sent.id in record.getMessage() and "crash" in record.getMessage()
    assert "secret" not in caplog.text
    # A failed event is still acknowledged: it would only fail again.
    assert world.net.account(BOT).position == 2


async def test_cancelled_handlers_leave_their_events_for_the_next_start() -> None:
    net = FakeNetwork()
    alice = net.adapter("signal", ALICE)
    async with Client(net.adapter("signal", BOT)) as client, Client(alice) as a:
        bot = Bot(client)
        started = anyio.Event()

        @bot.command("hang")
        async def hang(ctx: Context[MessageReceived]) -> None:
            started.set()
            await anyio.sleep_forever()

        async with anyio.create_task_group() as tg:
            tg.start_soon(bot.run)
            await a.send(BOT, "!hang")
            await started.wait()
            tg.cancel_scope.cancel()
    async with Client(net.adapter("signal", BOT)) as again:
        event = await EventWaiter(again, timeout=2).next(MessageReceived)
        assert event.text == "!hang"


def test_own_messages_are_not_dispatched() -> None:
    me = unimsg.Address.parse(BOT)
    other = unimsg.Address.parse(ALICE)

    def message(sender: unimsg.Address, from_self: bool = False) -> MessageReceived:
        return MessageReceived(
            network="signal",
            account=me,
            conversation=other,
            sender=sender,
            id="1",
            timestamp=datetime(2026, 1, 1, tzinfo=UTC),
            from_self=from_self,
        )

    assert _own(message(other, from_self=True))
    assert _own(message(me))
    assert not _own(message(other))


def test_registration_errors() -> None:
    net = FakeNetwork()
    bot = Bot(Client(net.adapter("signal", BOT)))

    @bot.command("a")
    async def a(ctx: Context[MessageReceived]) -> None: ...

    with pytest.raises(ValueError, match="has a handler"):
        bot.command("A")
    with pytest.raises(ValueError, match="one word"):
        bot.command("two words")
    with pytest.raises(ValueError, match="max_concurrency"):
        Bot(bot.client, max_concurrency=0)
    assert bot.commands == ["a"]
