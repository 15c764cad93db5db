"""One reader per client, and acknowledgements in arrival order."""

import anyio
import pytest

import unimsg
from unimsg import Bot, Client, MessageReceived
from unimsg._health import event_key
from unimsg.testing import EventWaiter, FakeNetwork

pytestmark = pytest.mark.anyio

A, B = "signal:+15550000001", "signal:+15550000002"


async def test_a_second_reader_in_another_task_is_refused_until_the_first_ends() -> None:
    net = FakeNetwork()
    async with Client(net.adapter("signal", A)) as a, Client(net.adapter("signal", B)) as b:
        await a.send(B, "one")
        first = b.events()
        assert isinstance(await anext(first), MessageReceived)

        async def second_reader() -> None:
            with pytest.raises(unimsg.ConcurrentReaderError, match="one reader"):
                await anext(b.events())

        async with anyio.create_task_group() as tg:
            tg.start_soon(second_reader)
        assert issubclass(unimsg.ConcurrentReaderError, unimsg.UsageError)
        # Once the first reader is gone, another task may read.
        del first
        await a.send(B, "two")
        got: list[str] = []

        async def reader() -> None:
            event = await anext(b.events())
            assert isinstance(event, MessageReceived)
            got.append(event.text)

        async with anyio.create_task_group() as tg:
            tg.start_soon(reader)
        assert got == ["two"]


async def test_a_new_loop_in_the_same_task_takes_over() -> None:
    net = FakeNetwork()
    async with Client(net.adapter("signal", A)) as a, Client(net.adapter("signal", B)) as b:
        for text in ("one", "two"):
            await a.send(B, text)
        kept = b.events()
        assert (await anext(kept)).text == "one"  # type: ignore[attr-defined]
        assert (await anext(b.events())).text == "two"  # type: ignore[attr-defined]


async def test_a_bot_and_a_loop_do_not_split_the_events() -> None:
    net = FakeNetwork()
    async with Client(net.adapter("signal", A)) as a, Client(net.adapter("signal", B)) as b:
        bot = Bot(b)

        @bot.command("ping")
        async def ping(ctx: unimsg.Context[MessageReceived]) -> None:
            await ctx.reply("pong")

        async with bot:
            with pytest.raises(unimsg.ConcurrentReaderError):
                await EventWaiter(b, timeout=1).next(MessageReceived)
            with pytest.raises(unimsg.ConcurrentReaderError):
                await Bot(b).run()
            await a.send(B, "!ping")
            assert (await EventWaiter(a, timeout=3).next(MessageReceived)).text == "pong"


async def test_acks_take_effect_in_arrival_order() -> None:
    net = FakeNetwork()
    async with Client(net.adapter("signal", A)) as a, Client(net.adapter("signal", B)) as b:
        for text in ("one", "two", "three"):
            await a.send(B, text)
        events = b.events(auto_ack=False)
        one, two, three = [await anext(events) for _ in range(3)]
        await b.ack(three)
        await b.ack(two)
        keys = [event_key(e) for e in (one, two, three)]
        assert await b.store.seen(keys) == set()
        assert net.account(B).position == 0
        await b.ack(one)
        assert await b.store.seen(keys) == set(keys)
        assert net.account(B).position == 3


async def test_unacknowledged_events_come_again_after_a_restart_in_order() -> None:
    net = FakeNetwork()
    net.adapter("signal", B)
    async with Client(net.adapter("signal", A)) as a:
        for text in ("one", "two"):
            await a.send(B, text)
    async with Client(net.adapter("signal", B)) as b:
        events = b.events(auto_ack=False)
        await anext(events)
        two = await anext(events)
        await b.ack(two)  # but not one: neither is committed
    async with Client(net.adapter("signal", B)) as b:
        events = b.events(auto_ack=False)
        again = [await anext(events), await anext(events)]
        assert [e.text for e in again] == ["one", "two"]  # type: ignore[attr-defined]


async def test_an_event_left_by_break_does_not_hold_back_later_acknowledgements() -> None:
    net = FakeNetwork()
    async with Client(net.adapter("signal", A)) as a, Client(net.adapter("signal", B)) as b:
        for text in ("one", "two", "three"):
            await a.send(B, text)
        async for _event in b.events():
            break
        seen = []
        with anyio.move_on_after(0.3):
            async for event in b.events():
                seen.append(event.text)  # type: ignore[attr-defined]
        assert seen == ["two", "three"]
        assert net.account(B).position == 3
        assert await b.store.seen([event_key(_event)]) == set()


async def test_events_in_hand_when_the_client_fails_come_again() -> None:
    net = FakeNetwork()
    net.adapter("signal", B)
    async with Client(net.adapter("signal", A)) as a:
        await a.send(B, "boom")

    async def failing_handler() -> None:
        async with Client(net.adapter("signal", B)) as b:
            async for _event in b.events():
                raise RuntimeError("the handler failed")

    with pytest.raises(RuntimeError):
        await failing_handler()
    async with Client(net.adapter("signal", B)) as b:
        assert (await anext(b.events())).text == "boom"  # type: ignore[attr-defined]


async def test_same_id_from_two_senders_is_two_events() -> None:
    # Signal names a message by its author's timestamp: two members of a group may
    # send in the same millisecond, and neither message may be taken for the other.
    from datetime import UTC, datetime

    group = unimsg.Address.parse("signal:group:Z2dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2c=")
    me = unimsg.Address.parse(A)
    now = datetime.now(UTC)
    sent = [
        MessageReceived(
            network="signal",
            account=me,
            conversation=group,
            sender=unimsg.Address.parse(who),
            id="1700000000000",
            timestamp=now,
            text=text,
        )
        for who, text in ((B, "from b"), ("signal:+15550000003", "from c"))
    ]

    class Twins:
        network = "signal"
        account = me
        idempotent_sends = False
        max_message_bytes = None

        async def run(self, sink, *, task_status=anyio.TASK_STATUS_IGNORED):  # type: ignore[no-untyped-def]
            task_status.started()
            for event in sent:
                await sink(event)
            await anyio.sleep_forever()

        async def ack(self, event: unimsg.Event) -> None:
            pass

        async def send(self, message: unimsg.OutgoingMessage) -> unimsg.SentMessage:
            raise unimsg.NotSupportedError("receive only")

    async with Client(Twins()) as client:
        waiter = EventWaiter(client, 5)
        got = [await waiter.next(MessageReceived) for _ in sent]
    assert [e.text for e in got] == ["from b", "from c"]
    assert event_key(sent[0]) != event_key(sent[1])
