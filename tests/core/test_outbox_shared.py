"""Several workers on one store: each send claimed once, lanes in order, take-overs."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

import unimsg
from unimsg import Client, MemoryStore, OutboxEntry, OutgoingMessage, SentMessage
from unimsg.testing import EventWaiter, FakeNetwork

pytestmark = pytest.mark.anyio


class Counting:
    """Wraps an adapter and records every send it makes."""

    def __init__(self, inner: object, log: list[str]) -> None:
        self.inner = inner
        self.log = log

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def send(self, message: OutgoingMessage) -> SentMessage:
        self.log.append(message.idempotency_key)
        await anyio.lowlevel.checkpoint()
        result: SentMessage = await self.inner.send(message)  # type: ignore[attr-defined]
        return result


async def test_two_workers_on_one_store_send_each_message_once_in_order(
    fake_network: FakeNetwork,
) -> None:
    store = MemoryStore()
    sent: list[str] = []
    a1 = Counting(fake_network.adapter("matrix", "matrix:@a:fake.test"), sent)
    a2 = Counting(fake_network.adapter("matrix", "matrix:@a:fake.test"), sent)
    b = fake_network.adapter("matrix", "matrix:@b:fake.test")
    c = fake_network.adapter("matrix", "matrix:@c:fake.test")
    async with (
        Client(a1, store=store) as w1,  # type: ignore[arg-type]
        Client(a2, store=store) as w2,  # type: ignore[arg-type]
        Client(b) as cb,
        Client(c) as cc,
    ):
        for i in range(20):
            await (w1 if i % 2 else w2).enqueue(b.account, f"b{i}")
            await (w2 if i % 2 else w1).enqueue(c.account, f"c{i}")
        for client, prefix in ((cb, "b"), (cc, "c")):
            waiter = EventWaiter(client, timeout=10)
            got = [(await waiter.next(unimsg.MessageReceived)).text for _ in range(20)]
            assert got == [f"{prefix}{i}" for i in range(20)]
        await drained(store)
    assert len(sent) == len(set(sent)) == 40


async def drained(store: MemoryStore) -> None:
    with anyio.fail_after(5):
        while await store.outbox_size():  # noqa: ASYNC110 (the store has no event to wait on)
            await anyio.sleep(0.01)


def _entry(client: Client, to: str, text: str, key: str) -> OutboxEntry:
    import json

    adapter = next(iter(client.adapters))
    return OutboxEntry(
        key=key,
        lane=f"{adapter}\x1f{to}",
        payload=json.dumps(
            {"adapter": adapter, "to": to, "content": {"text": text}, "require_encryption": False}
        ),
        taken_over=False,
    )


@pytest.mark.parametrize(
    ("network", "started", "resent"),
    [("matrix", True, True), ("signal", True, False), ("signal", False, True)],
)
async def test_a_send_taken_over_from_a_dead_worker(
    fake_network: FakeNetwork, network: str, started: bool, resent: bool
) -> None:
    store = MemoryStore()
    me = f"{network}:+15550000001" if network == "signal" else "matrix:@a:fake.test"
    peer = f"{network}:+15550000002" if network == "signal" else "matrix:@b:fake.test"
    a = fake_network.adapter(network, me)
    b = fake_network.adapter(network, peer)
    worker = Client(a, store=store)
    # A worker that died while sending: its claim has expired.
    await store.outbox_add(_entry(worker, peer, "maybe sent", "k1"))
    assert await store.outbox_claim("dead", limit=1, lease=0.01)
    if started:
        # The marker an outbox writes before a send it could not take back.
        await store.put("outbox-attempt:k1", "1")
    await anyio.sleep(0.05)
    unknown: list[tuple[OutgoingMessage, unimsg.OutcomeUnknownError]] = []
    worker.outbox.on_outcome_unknown = lambda m, e: unknown.append((m, e))
    async with worker, Client(b) as cb:
        await drained(store)
        if resent:
            got = await EventWaiter(cb, timeout=5).next(unimsg.MessageReceived)
            assert got.text == "maybe sent" and unknown == []
        else:
            assert [m.idempotency_key for m, _ in unknown] == ["k1"]
            assert "does not send it again" in str(unknown[0][1])
            with pytest.raises(TimeoutError):
                await EventWaiter(cb, timeout=0.3).next(unimsg.MessageReceived)
