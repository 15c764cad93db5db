from pathlib import Path

import anyio
import pytest

import unimsg
from unimsg import Client, ConnectError, OutgoingMessage, SentMessage
from unimsg.testing import EventWaiter, FakeAdapter, FakeNetwork

pytestmark = pytest.mark.anyio


class Flaky:
    """Wraps an adapter: the first ``failures`` sends fail, optionally after going out."""

    def __init__(self, inner: FakeAdapter, failures: int, *, lose_response: bool = False) -> None:
        self.inner = inner
        self.failures = failures
        self.lose_response = lose_response
        self.calls = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def send(self, message: OutgoingMessage) -> SentMessage:
        self.calls += 1
        if self.failures > 0:
            self.failures -= 1
            if self.lose_response:
                await self.inner.send(message)
            raise ConnectError("connection reset")
        return await self.inner.send(message)


async def texts(client: Client, count: int) -> list[str]:
    waiter = EventWaiter(client, timeout=5)
    return [(await waiter.next(unimsg.MessageReceived)).text for _ in range(count)]


async def test_queued_sends_are_delivered_in_order(fake_network: FakeNetwork) -> None:
    a = fake_network.adapter("signal", "signal:+15550000001")
    b = fake_network.adapter("signal", "signal:+15550000002")
    async with Client(a) as ca, Client(b) as cb:
        queued = [await ca.enqueue(b.account, f"m{i}") for i in range(5)]
        receipts = [await q.delivered() for q in queued]
        assert all(isinstance(r, SentMessage) for r in receipts)
        assert await texts(cb, 5) == [f"m{i}" for i in range(5)]


async def test_transient_failures_are_retried_in_order(fake_network: FakeNetwork) -> None:
    a = Flaky(fake_network.adapter("signal", "signal:+15550000001"), failures=2)
    b = fake_network.adapter("signal", "signal:+15550000002")
    fake_network.faults.rate_limit(a.inner.account, sends=1, retry_after=0.01)
    async with Client(a, store=None) as ca, Client(b) as cb:  # type: ignore[arg-type]
        ca.outbox.initial_backoff = ca.outbox.max_backoff = 0.01
        first = await ca.enqueue(b.account, "first")
        second = await ca.enqueue(b.account, "second")
        with anyio.fail_after(5):
            await second.delivered()
            await first.delivered()
        assert await texts(cb, 2) == ["first", "second"]
        assert a.calls == 5


async def test_lost_response_is_not_duplicated_where_the_network_can_tell(
    fake_network: FakeNetwork,
) -> None:
    a = Flaky(fake_network.adapter("matrix", "matrix:@a:fake.test"), failures=1, lose_response=True)
    b = fake_network.adapter("matrix", "matrix:@b:fake.test")
    async with Client(a) as ca, Client(b) as cb:  # type: ignore[arg-type]
        ca.outbox.initial_backoff = 0.01
        queued = await ca.enqueue(b.account, "exactly once")
        await queued.delivered()
        waiter = EventWaiter(cb, timeout=2)
        await waiter.next(unimsg.MessageReceived)
        await waiter.none(unimsg.MessageReceived, within=0.2)


async def test_queued_sends_survive_a_restart(fake_network: FakeNetwork, tmp_path: Path) -> None:
    db = tmp_path / "outbox.db"
    b = fake_network.adapter("matrix", "matrix:@b:fake.test")
    down = Flaky(fake_network.adapter("matrix", "matrix:@a:fake.test"), failures=10**6)
    async with Client(down, store=db) as ca:  # type: ignore[arg-type]
        await ca.enqueue(b.account, "written down")
        await ca.enqueue(b.account, "and this")
        await anyio.sleep(0.05)
    assert down.calls >= 1
    async with (
        Client(fake_network.adapter("matrix", "matrix:@a:fake.test"), store=db),
        Client(b) as cb,
    ):
        assert await texts(cb, 2) == ["written down", "and this"]
    async with unimsg.SqliteStore(db) as store:
        assert await store.outbox_pending() == []


async def test_permanent_failures_reach_the_waiter(fake_network: FakeNetwork) -> None:
    a = fake_network.adapter("signal", "signal:+15550000001")
    async with Client(a) as ca:
        queued = await ca.enqueue("signal:+15550000099", "nobody home")
        with pytest.raises(unimsg.UnregisteredRecipientError):
            await queued.delivered()
        assert await ca.store.outbox_pending() == []


class Lost(Flaky):
    """The first ``failures`` sends go out, and the answer is lost (OutcomeUnknownError)."""

    async def send(self, message: OutgoingMessage) -> SentMessage:
        self.calls += 1
        if self.failures > 0:
            self.failures -= 1
            await self.inner.send(message)
            raise unimsg.OutcomeUnknownError("the answer was lost")
        return await self.inner.send(message)


async def test_outcome_unknown_is_not_resent_without_idempotency(
    fake_network: FakeNetwork,
) -> None:
    a = Lost(fake_network.adapter("signal", "signal:+15550000001"), failures=1)
    b = fake_network.adapter("signal", "signal:+15550000002")
    assert not a.idempotent_sends
    async with Client(a) as ca, Client(b) as cb:  # type: ignore[arg-type]
        ca.outbox.initial_backoff = 0.01
        queued = await ca.enqueue(b.account, "maybe sent")
        assert await ca.outbox.status(queued.key) == "queued"
        with pytest.raises(unimsg.OutcomeUnknownError):
            await queued.delivered()
        assert a.calls == 1
        assert await ca.outbox.status(queued.key) == "unknown"
        waiter = EventWaiter(cb, timeout=2)
        await waiter.next(unimsg.MessageReceived)
        await waiter.none(unimsg.MessageReceived, within=0.2)
        # What comes next in the conversation still goes out.
        after = await ca.enqueue(b.account, "next")
        await after.delivered()


async def test_outcome_unknown_is_retried_where_sends_are_idempotent(
    fake_network: FakeNetwork,
) -> None:
    a = Lost(fake_network.adapter("matrix", "matrix:@a:fake.test"), failures=1)
    b = fake_network.adapter("matrix", "matrix:@b:fake.test")
    async with Client(a) as ca, Client(b) as cb:  # type: ignore[arg-type]
        ca.outbox.initial_backoff = 0.01
        queued = await ca.enqueue(b.account, "exactly once")
        await queued.delivered()
        assert a.calls == 2
        waiter = EventWaiter(cb, timeout=2)
        await waiter.next(unimsg.MessageReceived)
        await waiter.none(unimsg.MessageReceived, within=0.2)


class Hanging(Flaky):
    async def send(self, message: OutgoingMessage) -> SentMessage:
        self.calls += 1
        await anyio.sleep_forever()
        raise AssertionError


async def test_send_interrupted_by_a_crash_is_not_resent(
    fake_network: FakeNetwork, tmp_path: Path
) -> None:
    db = tmp_path / "outbox.db"
    hanging = Hanging(fake_network.adapter("signal", "signal:+15550000001"), failures=0)
    b = fake_network.adapter("signal", "signal:+15550000002")
    async with Client(hanging, store=db) as ca:  # type: ignore[arg-type]
        queued = await ca.enqueue(b.account, "in flight at the crash")
        while not hanging.calls:  # noqa: ASYNC110
            await anyio.sleep(0.01)
    # The process "died" with the request out: the next run must not send it again.
    again = Flaky(fake_network.adapter("signal", "signal:+15550000001"), failures=0)
    async with Client(again, store=db) as ca, Client(b) as cb:  # type: ignore[arg-type]
        await anyio.sleep(0.1)
        assert again.calls == 0
        assert await ca.outbox.status(queued.key) == "unknown"
        await EventWaiter(cb, timeout=1).none(unimsg.MessageReceived, within=0.2)
    async with unimsg.SqliteStore(db) as store:
        assert await store.outbox_pending() == []
