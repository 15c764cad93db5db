"""One active reader per account set: standby, take-over, a lost lease stops the reader."""

from __future__ import annotations

import anyio
import pytest

import unimsg
from unimsg import Client, MemoryStore
from unimsg.testing import EventWaiter, FakeNetwork

pytestmark = pytest.mark.anyio


async def test_a_standby_waits_and_takes_over_when_the_reader_leaves(
    fake_network: FakeNetwork,
) -> None:
    store = MemoryStore()
    me, peer = "signal:+15550000001", "signal:+15550000002"
    sender = fake_network.adapter("signal", peer)
    first = Client(fake_network.adapter("signal", me), store=store, reader_lease=0.4)
    second = Client(fake_network.adapter("signal", me), store=store, reader_lease=0.4)
    assert first.health()[me].role == "standby"
    leave, active = anyio.Event(), anyio.Event()
    texts: list[str] = []

    async def reader(client: Client, stop: anyio.Event | None) -> None:
        async with client:
            active.set()
            if stop is not None:
                await stop.wait()
                return
            got = await EventWaiter(client, timeout=5).next(unimsg.MessageReceived)
            texts.append(got.text)

    async with Client(sender) as cs, anyio.create_task_group() as tg:
        tg.start_soon(reader, first, leave)
        await active.wait()
        health = first.health()[me]
        assert health.role == "active" and health.lease_age is not None
        active = anyio.Event()
        tg.start_soon(reader, second, None)
        await anyio.sleep(0.3)
        assert second.health()[me].role == "standby" and not active.is_set()
        leave.set()
        with anyio.fail_after(5):
            await active.wait()
        assert second.health()[me].role == "active"
        await cs.send(me, "after")
    assert texts == ["after"]
    assert first.health()[me].role == "standby"


async def test_a_reader_that_loses_its_lease_stops(fake_network: FakeNetwork) -> None:
    store = MemoryStore()
    me = "signal:+15550000001"
    client = Client(fake_network.adapter("signal", me), store=store, reader_lease=0.3)

    async def read_while_another_takes_over() -> None:
        async with client:
            name = f"reader:{me}"
            # Another process takes the lease over (as after a pause past its expiry).
            await store.lease_release(name, client.outbox.worker)
            assert await store.lease(name, "someone else", 30)
            await anyio.sleep(2)

    with pytest.raises(unimsg.ConnectError, match="lost the reader lease"):
        await read_while_another_takes_over()
    assert client.health()[me].role == "standby"


def test_a_lease_needs_positive_seconds() -> None:
    with pytest.raises(ValueError, match="positive"):
        Client(FakeNetwork().adapter("signal", "signal:+15550000001"), reader_lease=0)
