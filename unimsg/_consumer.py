"""The one reader of a client's events: de-duplication, a single owner, ordered acks.

Every way of reading events (``client.events()``, a `Bot` and the relays it
hosts, the test helpers) goes through the client's one `Consumer`, so that

- a redelivered event reaches the application once: the store knows what
  earlier runs handled, ``_handed`` what this run handed out;
- only one reader takes events at a time: a second one, in another task,
  gets `ConcurrentReaderError` instead of part of the stream;
- acknowledgements reach the store and the adapters in arrival order per
  account, whatever order handlers finish in. Adapters commit a resume
  position (the fake network a cursor, Matrix a sync token), and
  acknowledging event 7 while event 5 is still being handled would move
  that position past 5 and lose it in a crash. An event is committed once
  it and every event its account delivered before it are acknowledged: a
  crash redelivers everything after the oldest unfinished one.
"""

from __future__ import annotations

import weakref
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio

if TYPE_CHECKING:
    from anyio.streams.memory import MemoryObjectReceiveStream

    from ._adapter import Adapter

from ._event import Event
from ._exceptions import ConcurrentReaderError
from ._health import event_key
from ._log import logger
from ._store import Store

__all__ = ["Consumer"]


#: Events checked against the store in one query, when that many are waiting.
BATCH = 256


class _Pending:
    """One handed-out event's progress; a plain slotted class, one is made per event."""

    __slots__ = ("done", "event", "key", "known", "skipped")

    def __init__(self, event: Event, key: str) -> None:
        self.event = event
        self.key = key
        self.done = False
        #: Already in the store (a redelivery): only the adapter hears of it again.
        self.known = False
        #: Left unacknowledged by a reader that went away: neither stored nor acked.
        self.skipped = False


class Consumer:
    def __init__(
        self,
        store: Store,
        receive: MemoryObjectReceiveStream[Event],
        adapter_of: Callable[[Event], Adapter],
    ) -> None:
        self._store = store
        self._receive = receive
        self._adapter_of = adapter_of
        self._ready: deque[Event] = deque()
        self._unchecked: list[Event] = []
        # Handed out and not acknowledged yet, by key.
        self._handed: dict[str, _Pending] = {}
        # The same, by the identity of the object handed out: its key need not be made again.
        self._by_id: dict[int, _Pending] = {}
        self._queues: dict[tuple[str, str], deque[_Pending]] = {}
        # Taken without a checkpoint when free: flush runs whenever the reader idles.
        self._lock = anyio.Lock(fast_acquire=True)
        #: Marked done since the last flush.
        self._marked = 0
        #: The reader waits for events: nobody commits what is marked until one comes.
        self._idle = False
        self._owner: weakref.ref[object] | None = None
        self._owner_task: int | None = None

    # -- one reader --------------------------------------------------------------------

    def claim(self, owner: object) -> None:
        """Make ``owner`` the reader; `ConcurrentReaderError` if another task's reader is live.

        A reader's claim lasts until it is released or garbage-collected. In
        one task nothing can read concurrently, so a new reader there takes
        over from an abandoned one (``break`` out of one ``events()`` loop,
        start another).
        """
        current = self._owner() if self._owner is not None else None
        if current is owner:
            # The common case, once per event: the reader already holds its claim.
            return
        task = anyio.get_current_task().id
        if current is not None and current is not owner and self._owner_task != task:
            raise ConcurrentReaderError(
                f"this client's events are read by {current!r} already, in another task; "
                "a client has one reader: register handlers on one Bot (relays included) "
                "or use one events() loop"
            )
        if current is not owner:
            self._owner = weakref.ref(owner)
        self._owner_task = task

    def release(self, owner: object) -> None:
        if self._owner is not None and self._owner() is owner:
            self._owner = self._owner_task = None

    # -- reading -------------------------------------------------------------------------

    def backlog(self) -> int:
        waiting = self._receive.statistics().current_buffer_used
        return waiting + len(self._ready) + len(self._unchecked)

    async def next(self) -> Event | None:
        """The next event not handled before (``None`` once the client closed)."""
        while not self._ready:
            if not self._unchecked:
                if self._marked >= BATCH:
                    await self.flush()
                try:
                    first = self._receive.receive_nowait()
                except anyio.WouldBlock:
                    # Nothing waiting: commit what is done before idling.
                    await self.flush()
                    self._idle = True
                    try:
                        first = await self._receive.receive()
                    except (anyio.EndOfStream, anyio.ClosedResourceError):
                        return None
                    finally:
                        self._idle = False
                except (anyio.EndOfStream, anyio.ClosedResourceError):
                    # Closed: the client committed what was done as it closed.
                    return None
                self._unchecked.append(first)
                while len(self._unchecked) < BATCH:
                    try:
                        self._unchecked.append(self._receive.receive_nowait())
                    except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
                        break
            await self._check()
        return self._ready.popleft()

    async def _check(self) -> None:
        # The batch stays in ``_unchecked`` until the store answered, so that
        # a cancelled wait loses nothing.
        keys = [event_key(e) for e in self._unchecked]
        handled = await self._store.seen(keys)
        batch, self._unchecked = self._unchecked, []
        for event, key in zip(batch, keys, strict=True):
            if key in handled:
                # Handled in an earlier run: tell the adapter again, in order,
                # so that its resume position moves past the copy.
                logger().debug("dropped a handled %s %s", type(event).__name__, event.id)
                pending = self._arrived(event, key)
                pending.known = True
                self._mark(pending)
            elif key in self._handed:
                # The first copy is still with the application; its ack covers this one.
                logger().debug("dropped a redelivered %s %s", type(event).__name__, event.id)
            else:
                pending = self._arrived(event, key)
                self._handed[key] = self._by_id[id(event)] = pending
                self._ready.append(event)

    # -- acknowledging ----------------------------------------------------------------------

    def _arrived(self, event: Event, key: str) -> _Pending:
        pending = _Pending(event, key)
        account = (event.network, event.account.id)
        queue = self._queues.get(account)
        if queue is None:
            queue = self._queues[account] = deque()
        queue.append(pending)
        return pending

    async def ack(self, event: Event) -> None:
        """Mark ``event`` done and commit everything that is ready (in order)."""
        self.done(event)
        await self.flush()

    def done(self, event: Event) -> None:
        """Mark ``event`` done; it is committed, in order, by the next `flush`."""
        pending = self._take(event)
        if pending is None:
            # Not handed out by this run (or acknowledged already): committed at once.
            pending = self._arrived(event, event_key(event))
        self._mark(pending)

    def _take(self, event: Event) -> _Pending | None:
        """The record of ``event`` (or of an equal copy) handed out and not done yet."""
        pending = self._by_id.pop(id(event), None)
        if pending is not None:
            del self._handed[pending.key]
            return pending
        pending = self._handed.pop(event_key(event), None)
        if pending is not None:
            del self._by_id[id(pending.event)]
        return pending

    async def settle(self, event: Event) -> None:
        """Mark ``event`` done and commit it soon: now if the reader idles, else in its batch.

        For handlers finishing beside a busy reader (a `Bot`): the reader
        commits marked events before it idles and at least every `BATCH`,
        so a handler commits only when the reader will not do it for a while.
        """
        self.done(event)
        if self._idle or self._marked >= BATCH:
            await self.flush()

    def abandon(self, event: Event) -> None:
        """A loop was left with ``event`` in hand: it stays unacknowledged.

        It comes again after a restart, as an event whose handler crashed
        would, but no longer holds back the acknowledgements of the events
        after it. Only marks, never adds, so that it is safe from a finaliser.
        """
        pending = self._take(event)
        if pending is not None:
            pending.skipped = True
            self._mark(pending)

    def _mark(self, pending: _Pending) -> None:
        pending.done = True
        self._marked += 1

    def unacknowledged(self) -> int:
        return sum(len(q) for q in self._queues.values())

    async def flush(self) -> None:
        """Commit every event that is done and follows only done ones, per account.

        One store transaction for all of them, then the adapters' acks in
        arrival order. One lock keeps each account's acks in order when two
        handlers finish at once; whoever holds it commits everything ready.
        """
        if not self._marked and not self._lock.locked():
            # Nothing to commit and nobody committing: skip the lock's checkpoint.
            return
        async with self._lock:
            if not self._marked:
                return
            self._marked = 0
            ready: list[_Pending] = []
            for queue in self._queues.values():
                while queue and queue[0].done:
                    ready.append(queue.popleft())
            if not ready:
                return
            ready = [p for p in ready if not p.skipped]
            await self._store.remember([p.key for p in ready if not p.known])
            for p in ready:
                try:
                    await self._adapter_of(p.event).ack(p.event)
                except Exception as exc:
                    # Recorded in the store already: a redelivery is dropped and acked again.
                    logger().warning(
                        "could not acknowledge %s %s: %s",
                        type(p.event).__name__,
                        p.event.id,
                        type(exc).__name__,
                    )
