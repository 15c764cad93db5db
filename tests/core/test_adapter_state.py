"""The client hands adapters that ask for it a place in its store, scoped to the adapter."""

from __future__ import annotations

import pytest
from anyio.abc import TaskStatus

import unimsg
from unimsg import AdapterState, Client, MemoryStore, SupportsSharedState
from unimsg.testing import FakeNetwork

pytestmark = pytest.mark.anyio


class _Positioned:
    """A fake-network adapter that keeps a resume position where the client says."""

    def __init__(self, network: FakeNetwork, account: str) -> None:
        self.inner = network.adapter("signal", account)
        self.state: AdapterState | None = None
        self.seen_at_start: str | None = None

    network = "signal"
    idempotent_sends = False
    max_message_bytes = None

    @property
    def account(self) -> unimsg.Address:
        return self.inner.account

    def use_state(self, state: AdapterState) -> None:
        self.state = state

    async def run(self, sink: unimsg.EventSink, *, task_status: TaskStatus[None]) -> None:
        if self.state is not None:
            self.seen_at_start = await self.state.get("position")
        await self.inner.run(sink, task_status=task_status)

    async def ack(self, event: unimsg.Event) -> None:
        if self.state is not None:
            await self.state.put("position", event.id)

    async def send(self, message: unimsg.OutgoingMessage) -> unimsg.SentMessage:
        return await self.inner.send(message)


def test_the_capability_is_structural(fake_network: FakeNetwork) -> None:
    assert isinstance(_Positioned(fake_network, "signal:+15550000001"), SupportsSharedState)
    assert not isinstance(
        fake_network.adapter("signal", "signal:+15550000001"), SupportsSharedState
    )


async def test_without_a_store_the_adapter_keeps_its_own(fake_network: FakeNetwork) -> None:
    adapter = _Positioned(fake_network, "signal:+15550000001")
    async with Client(adapter):
        assert adapter.state is None


async def test_a_position_in_a_shared_store_reaches_the_next_process(
    fake_network: FakeNetwork,
) -> None:
    store = MemoryStore()
    me, peer = "signal:+15550000001", "signal:+15550000002"
    first = _Positioned(fake_network, me)
    async with (
        Client(fake_network.adapter("signal", peer)) as sender,
        Client(first, store=store) as reader,
    ):
        assert first.state is not None and first.seen_at_start is None
        await sender.send(me, "hello")
        async for event in reader.events(auto_ack=False):
            if isinstance(event, unimsg.MessageReceived):
                await reader.ack(event)
                break
    acked = event.id
    # Scoped by the adapter's name inside the store's named values.
    assert await store.get(f"adapter:{me}:position") == acked
    second = _Positioned(fake_network, me)
    async with Client(second, store=store):
        assert second.seen_at_start == acked


async def test_two_adapters_do_not_share_a_position(fake_network: FakeNetwork) -> None:
    store = MemoryStore()
    one = _Positioned(fake_network, "signal:+15550000001")
    two = _Positioned(fake_network, "signal:+15550000003")
    async with Client(one, two, store=store):
        assert one.state is not None and two.state is not None
        await one.state.put("position", "a")
        assert await two.state.get("position") is None
        assert await one.state.get("position") == "a"
        assert "signal:+15550000001" in repr(one.state)
        await one.state.put("position", None)
        assert await one.state.get("position") is None
