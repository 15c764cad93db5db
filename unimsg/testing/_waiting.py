"""Waiting for a particular event in tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import anyio

from .._client import Client
from .._events import Event

E = TypeVar("E", bound=Event)


class EventWaiter:
    """Reads one client's events and returns the first that fits.

    Keeps a single ``events()`` iterator, so events that did not fit are
    skipped (and acknowledged) rather than queued for later. It is that
    client's reader: not for a client a `Bot` runs on.
    """

    def __init__(self, client: Client, timeout: float = 10.0) -> None:
        self._iter = client.events()
        self.timeout = timeout
        self.skipped: list[Event] = []

    async def next(
        self,
        kind: type[E],
        where: Callable[[E], bool] = lambda _: True,
        *,
        within: float | None = None,
    ) -> E:
        limit = self.timeout if within is None else within
        with anyio.fail_after(limit):
            async for event in self._iter:
                if isinstance(event, kind) and where(event):
                    return event
                self.skipped.append(event)
        raise AssertionError(f"the event stream ended before a {kind.__name__} arrived")

    async def none(self, kind: type[Event], *, within: float) -> None:
        """Assert that no event of ``kind`` arrives for ``within`` seconds."""
        with anyio.move_on_after(within):
            async for event in self._iter:
                if isinstance(event, kind):
                    raise AssertionError(f"unexpected {event!r}")
