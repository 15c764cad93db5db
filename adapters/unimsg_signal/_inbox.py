"""The bounded buffer between the daemon's connection and the application.

The reader puts what the daemon pushes; the dispatcher takes it out and hands
it to the application. When `limit` items wait, the reader stops reading
(`wait_for_room`), so a slow application slows the daemon's connection down
(TCP, pipe and HTTP flow control) instead of growing memory.

One exception keeps answers flowing: on line transports answers share the
connection with pushed envelopes, and an application that waits for an
answer while its own events fill the buffer would otherwise wait forever.
While a request waits (``urgent``), the reader goes on reading, and what it
reads lands here in order; the excess is what the daemon had written before
the answer, which the kernel's socket buffers bound.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

import anyio

__all__ = ["Inbox"]


class Inbox:
    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)  # SignalConfig refuses less than 1
        self._items: deque[Any] = deque()
        self._arrived = anyio.Event()
        self._changed = anyio.Event()
        #: Readers in wait_for_room: with none, a change wakes nobody and costs nothing.
        self.room_waiters = 0
        #: The most items that ever waited at once.
        self.high_water = 0

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: Any) -> None:
        """Add ``item``; never blocks (the reader calls `wait_for_room` between reads)."""
        items = self._items
        items.append(item)
        if len(items) > self.high_water:
            self.high_water = len(items)
        self._arrived.set()

    async def get(self) -> Any:
        """The oldest item, waiting for one."""
        items = self._items
        while not items:
            self._arrived = anyio.Event()
            await self._arrived.wait()
        item = items.popleft()
        if len(items) == self.limit - 1:
            self._wake()
        return item

    def nudge(self) -> None:
        """Something ``urgent`` depends on changed: waiting readers look again."""
        self._wake()

    def _wake(self) -> None:
        if self.room_waiters:
            self._changed.set()
            self._changed = anyio.Event()

    async def wait_for_room(self, urgent: Callable[[], bool] | None = None) -> None:
        """Return once fewer than `limit` items wait, or while ``urgent()`` holds."""
        while len(self._items) >= self.limit and not (urgent is not None and urgent()):
            self.room_waiters += 1
            try:
                await self._changed.wait()
            finally:
                self.room_waiters -= 1
