"""What the conformance checks share: skipping with a reason, and running an adapter bare."""

from __future__ import annotations

import math
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import anyio
import pytest

from .._adapter import Adapter, OutgoingMessage
from .._address import Address
from .._capabilities import Feature, HasFeatures
from .._events import Event
from .._types import Content, SentMessage

__all__ = [
    "Inbox",
    "need",
    "need_feature",
    "need_hook",
    "running",
    "send_text",
]

E = TypeVar("E", bound=Event)
H = TypeVar("H")


def need(adapter: Adapter, *capabilities: type) -> None:
    """Skip the check unless ``adapter`` implements every one of ``capabilities``."""
    for capability in capabilities:
        if not isinstance(adapter, capability):
            pytest.skip(f"{type(adapter).__name__} does not implement {capability.__name__}")


def need_feature(adapter: Adapter, feature: Feature) -> None:
    features = adapter.features if isinstance(adapter, HasFeatures) else frozenset()
    if feature not in features:
        pytest.skip(f"{type(adapter).__name__} does not list {feature!r} in its features")


def need_hook(hook: H | None, name: str) -> H:
    if hook is None:
        pytest.skip(f"the conformance_pair fixture gives no {name}")
    return hook


async def send_text(adapter: Adapter, to: Address, text: str) -> SentMessage:
    message = OutgoingMessage(to=to, content=Content(text=text), idempotency_key=uuid.uuid4().hex)
    return await adapter.send(message)


class Inbox:
    """The events a running adapter handed to its sink, read in order."""

    def __init__(self, events: anyio.abc.ObjectReceiveStream[Event], timeout: float) -> None:
        self._events = events
        self.timeout = timeout
        #: Events `next` passed over.
        self.skipped: list[Event] = []
        #: Every event read, in order.
        self.read: list[Event] = []

    async def next(
        self,
        kind: type[E],
        where: Callable[[E], bool] = lambda _: True,
        *,
        within: float | None = None,
    ) -> E:
        with anyio.fail_after(self.timeout if within is None else within):
            async for event in self._events:
                self.read.append(event)
                if isinstance(event, kind) and where(event):
                    return event
                self.skipped.append(event)
        raise AssertionError(f"the adapter stopped before a {kind.__name__} arrived")


@asynccontextmanager
async def running(adapter: Adapter, wait: float) -> AsyncIterator[Inbox]:
    """Run ``adapter`` as the client does, without a client: its own events, no acks."""
    send, receive = anyio.create_memory_object_stream[Event](math.inf)
    async with send, receive, anyio.create_task_group() as tg:
        await tg.start(adapter.run, send.send)
        try:
            yield Inbox(receive, wait)
        finally:
            tg.cancel_scope.cancel()
