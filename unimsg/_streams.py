"""How events pass through a client: in from each adapter (`Sink`), out to its reader."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio

if TYPE_CHECKING:
    from anyio.streams.memory import MemoryObjectSendStream

    from ._consumer import Consumer
    from ._health import _Health

from ._event import Event

__all__ = ["EventStream", "Sink"]


class Sink:
    """The client's `EventSink` for one adapter.

    ``nowait`` takes an event only if the client's buffer has room at once,
    so that a network in the same process (the fake) can hand a message from
    the sender's task straight to the receiving client, without a task hop.
    """

    __slots__ = ("_health", "_send", "_send_nowait")

    def __init__(self, stream: MemoryObjectSendStream[Event], health: _Health) -> None:
        self._health = health
        self._send = stream.send
        self._send_nowait = stream.send_nowait

    async def __call__(self, event: Event) -> None:
        self._health.saw(event)
        await self._send(event)

    def nowait(self, event: Event) -> bool:
        try:
            self._send_nowait(event)
        except (anyio.WouldBlock, anyio.BrokenResourceError, anyio.ClosedResourceError):
            return False
        self._health.saw(event)
        return True


class EventStream:
    """The iterator ``Client.events()`` returns."""

    def __init__(self, consumer: Consumer, *, auto_ack: bool = True) -> None:
        self._consumer = consumer
        self._auto_ack = auto_ack
        self._pending: Event | None = None

    def __repr__(self) -> str:
        return f"<EventStream auto_ack={self._auto_ack}>"

    def __aiter__(self) -> EventStream:
        return self

    def __del__(self) -> None:
        # A loop left (``break``, an error): its last event stays unacknowledged.
        # With auto_ack=False the application acknowledges, maybe later.
        if self._auto_ack and self._pending is not None:
            self._consumer.abandon(self._pending)

    async def __anext__(self) -> Event:
        self._consumer.claim(self)
        previous, self._pending = self._pending, None
        if previous is not None and self._auto_ack:
            self._consumer.done(previous)
        event = await self._consumer.next()
        if event is None:
            self._consumer.release(self)
            raise StopAsyncIteration
        self._pending = event
        return event
