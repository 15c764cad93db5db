"""The durable outbox: sends written down before they are tried, retried until delivered.

Each queued send keeps its idempotency key for life, so a retry after a
timeout, a crash or a restart is the same send to the network (Matrix answers
it with the same event id). Sends to one conversation leave in order; a slow
or failing conversation does not hold up the others.

Networks without idempotent sends (Signal) get no blind retries: a send that
may have gone out (`OutcomeUnknownError`, or an attempt a crash interrupted,
in this process or in another worker sharing the store) leaves the queue
with status ``"unknown"`` instead of going out twice. Only what certainly
did not go out is retried.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING

import anyio

if TYPE_CHECKING:
    from anyio.abc import TaskGroup, TaskStatus

    from ._records import OutboxEntry

from ._adapter import Adapter, OutgoingMessage
from ._address import Address
from ._exceptions import (
    ConnectError,
    OutcomeUnknownError,
    RateLimitedError,
    RemoteProtocolError,
    UnimsgError,
)
from ._lifecycle import leaves
from ._log import logger
from ._store import Store
from ._types import SentMessage

__all__ = ["Outbox", "QueuedMessage"]

#: Errors worth another try; anything else fails the send for good.
TRANSIENT = (ConnectError, RateLimitedError, RemoteProtocolError, TimeoutError)
#: Store names: an attempt under way (non-idempotent networks), and a final status.
_ATTEMPT = "outbox-attempt:"
_STATUS = "outbox-status:"


class QueuedMessage:
    """A send in the outbox. ``await queued.delivered()`` waits for the network's receipt."""

    def __init__(self, key: str) -> None:
        self.key = key
        self._done = anyio.Event()
        self._result: SentMessage | BaseException | None = None

    def __repr__(self) -> str:
        return f"<QueuedMessage {self.key}>"

    def _finish(self, result: SentMessage | BaseException) -> None:
        self._result = result
        self._done.set()

    async def delivered(self) -> SentMessage:
        """The receipt, or the error that made the outbox give up."""
        await self._done.wait()
        if isinstance(self._result, BaseException):
            raise self._result
        assert self._result is not None
        return self._result


class _Item:
    """One queued send (a plain slotted class: attrs would build its methods at import)."""

    __slots__ = ("adapter", "key", "lane", "message")

    def __init__(self, key: str, lane: str, adapter: str, message: OutgoingMessage) -> None:
        self.key = key
        self.lane = lane
        self.adapter = adapter
        self.message = message


class Outbox:
    """Sends what the store has queued, claiming each send so that one worker sends it.

    Any number of clients may share one store (PostgreSQL); each claims the
    oldest send of a conversation whose earlier sends are done, holds the
    claim while it sends (renewing it every third of ``claim_lease``), and
    removes the entry once delivered. A worker that dies leaves its claims
    to expire; the one that takes such a send over resends it where the
    network drops a repeated idempotency key, and elsewhere (Signal), if the
    worker before had started sending it, gives up on it with
    `OutcomeUnknownError`, since the first send may have gone out:
    ``on_outcome_unknown`` hears of each such send.
    """

    def __init__(
        self,
        store: Store,
        adapters: Callable[[str], Adapter],
        *,
        initial_backoff: float = 0.5,
        max_backoff: float = 60.0,
        worker: str | None = None,
        names: Collection[str] = (),
        claim_lease: float = 30.0,
        poll_interval: float = 1.0,
        concurrency: int = 32,
    ) -> None:
        self._store = store
        self._adapters = adapters
        #: Seconds before the first retry of a failed send; doubles up to ``max_backoff``.
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        #: This worker's name in the claims it holds.
        if worker is None:
            import socket  # only to name this worker in the store

            worker = f"{socket.gethostname()}:{os.getpid()}:{os.urandom(4).hex()}"
        self.worker = worker
        #: The adapters whose sends this worker may claim (lane prefixes).
        self._prefixes = [f"{name}\x1f" for name in names]
        self.claim_lease = claim_lease
        #: How often an idle worker looks for sends queued by other processes.
        self.poll_interval = poll_interval
        self.concurrency = concurrency
        #: Called with each send given up as outcome-unknown.
        self.on_outcome_unknown: Callable[[OutgoingMessage, OutcomeUnknownError], None] | None = (
            None
        )
        #: Queued sends (every worker's) when last counted.
        self.depth = 0
        self._waiters: dict[str, QueuedMessage] = {}
        self._held: set[str] = set()
        self._sending: set[str] = set()
        self._wake = anyio.Event()

    async def run(self, *, task_status: TaskStatus[None]) -> None:
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._renew)
                task_status.started()
                await self._claim_loop(tg)
        finally:
            # Claims whose send is not under way are given back for others to take at once.
            idle = self._held - self._sending
            if idle:
                with anyio.move_on_after(5, shield=True):
                    await self._store.outbox_release(self.worker, idle)

    async def _claim_loop(self, tg: TaskGroup) -> None:
        delay = self.initial_backoff
        counted = -math.inf
        while True:
            self._wake = anyio.Event()
            try:
                room = self.concurrency - len(self._held)
                if room > 0:
                    for entry in await self._store.outbox_claim(
                        self.worker, limit=room, lease=self.claim_lease, prefixes=self._prefixes
                    ):
                        if entry.key in self._held:
                            # Its claim lapsed while this worker still sends it (a stall,
                            # or another process reset an SQLite file's claims).
                            continue
                        self._held.add(entry.key)
                        tg.start_soon(self._deliver, entry)
                if time.monotonic() >= counted + 1.0:
                    # Counted once a second at most: a count reads the whole queue.
                    self.depth = await self._store.outbox_size()
                    counted = time.monotonic()
                delay = self.initial_backoff
            except UnimsgError as exc:
                logger("unimsg.outbox").warning("outbox cannot reach its store (%s); retrying", exc)
                await anyio.sleep(delay)
                delay = min(delay * 2, self.max_backoff)
                continue
            with anyio.move_on_after(self.poll_interval):
                await self._wake.wait()

    async def _renew(self) -> None:
        while True:
            await anyio.sleep(self.claim_lease / 3)
            if self._held:
                try:
                    await self._store.outbox_renew(self.worker, self.claim_lease)
                except UnimsgError as exc:
                    logger("unimsg.outbox").warning("outbox cannot renew its claims (%s)", exc)

    async def enqueue(self, adapter_name: str, message: OutgoingMessage) -> QueuedMessage:
        key = message.idempotency_key
        lane = f"{adapter_name}\x1f{message.to}"
        item = _Item(key, lane, adapter_name, message)
        queued = self._waiters.setdefault(key, QueuedMessage(key))
        from ._records import OutboxEntry  # built only once a send is queued

        await self._store.outbox_add(OutboxEntry(key=key, lane=lane, payload=_encode(item)))
        self._wake.set()
        return queued

    async def status(self, key: str) -> str | None:
        """``"unknown"`` for a send given up because it may have gone out (see
        `OutcomeUnknownError`), ``"queued"`` while queued here, else ``None``.

        Kept in the store, so it answers for sends of an earlier run (or of
        another worker sharing the store) too.
        """
        if key in self._waiters or key in self._held:
            return "queued"
        return await self._store.get(_STATUS + key)

    async def _deliver(self, entry: OutboxEntry) -> None:
        try:
            item = _decode(entry)
            if item is None:
                logger("unimsg.outbox").error("dropping unreadable outbox entry %s", entry.key)
                await self._done(entry.key, None)
                return
            adapter = self._adapters(item.adapter)
            # Without idempotency keys a second attempt after a possible first one duplicates.
            careful = not adapter.idempotent_sends
            if careful and await self._store.get(_ATTEMPT + item.key) is not None:
                whose = "another worker" if entry.taken_over else "an earlier run"
                await self._unknown(
                    item,
                    OutcomeUnknownError(
                        f"{whose} sent {item.key} and stopped before the answer: it may have "
                        f"been delivered, and {adapter.network} cannot tell a repeat, so the "
                        "outbox does not send it again"
                    ),
                )
                return
            await self._send(adapter, item, careful)
        except UnimsgError as exc:
            # The store failed: the claim expires and another worker (or a later
            # run) takes the send over, under the same outcome-unknown rule.
            logger("unimsg.outbox").error(
                "outbox send %s left to a later attempt: %s", entry.key, exc
            )
        finally:
            self._held.discard(entry.key)
            self._wake.set()

    async def _send(self, adapter: Adapter, item: _Item, careful: bool) -> None:
        marker = _ATTEMPT + item.key
        delay = self.initial_backoff
        attempt = 0
        while True:
            attempt += 1
            self._sending.add(item.key)
            try:
                if careful:
                    await self._store.put(marker, "1")
                try:
                    sent = await adapter.send(item.message)
                except BaseExceptionGroup as group:
                    # An adapter's task group may wrap its one error.
                    found = leaves(group)
                    if len(found) != 1 or not isinstance(found[0], Exception):
                        raise
                    raise found[0] from None
            except OutcomeUnknownError as exc:
                if careful:
                    await self._unknown(item, exc)
                    return
                failed: Exception = exc
                wait = delay
            except TRANSIENT as exc:
                # Certainly not sent (the adapter says OutcomeUnknownError otherwise).
                if careful:
                    await self._store.put(marker, None)
                failed = exc
                after = exc.retry_after if isinstance(exc, RateLimitedError) else None
                wait = delay if after is None else after
            except Exception as exc:
                logger("unimsg.outbox").error(
                    "outbox send %s failed for good: %s", item.key, type(exc).__name__
                )
                await self._done(item.key, exc, careful)
                return
            else:
                await self._done(item.key, sent, careful)
                return
            finally:
                self._sending.discard(item.key)
            logger("unimsg.outbox").warning(
                "outbox send %s failed (attempt %d, %s); retrying in %.1fs",
                item.key,
                attempt,
                type(failed).__name__,
                wait,
            )
            await anyio.sleep(wait)
            delay = min(delay * 2, self.max_backoff)

    async def _unknown(self, item: _Item, exc: OutcomeUnknownError) -> None:
        logger("unimsg.outbox").error(
            "outbox send %s may or may not have been delivered; not sending it again "
            "(status 'unknown')",
            item.key,
        )
        with anyio.CancelScope(shield=True):
            await self._store.put(_STATUS + item.key, "unknown")
        await self._done(item.key, exc, True)
        if self.on_outcome_unknown is not None:
            self.on_outcome_unknown(item.message, exc)

    async def _done(
        self, key: str, result: SentMessage | BaseException | None, careful: bool = False
    ) -> None:
        # Shielded: a send that went out is recorded even if the client is closing.
        with anyio.CancelScope(shield=True):
            try:
                await self._store.outbox_remove(key)
                if careful:
                    await self._store.put(_ATTEMPT + key, None)
            except UnimsgError as exc:
                # The claim expires and the send is taken over: resent where the
                # network drops repeats, reported as outcome-unknown elsewhere.
                logger("unimsg.outbox").error("outbox send %s done but not recorded (%s)", key, exc)
        waiter = self._waiters.pop(key, None)
        if waiter is not None and result is not None:
            waiter._finish(result)


def _encode(item: _Item) -> str:
    # json and the codec load with the first queued send, not with the client.
    import json

    from ._serialize import content_to_json

    m = item.message
    return json.dumps(
        {
            "adapter": item.adapter,
            "to": str(m.to),
            "content": content_to_json(m.content),
            "require_encryption": m.require_encryption,
        }
    )


def _decode(entry: OutboxEntry) -> _Item | None:
    import json

    from ._serialize import content_from_json

    key = entry.key
    try:
        data = json.loads(entry.payload)
        message = OutgoingMessage(
            to=Address.parse(data["to"]),
            content=content_from_json(data["content"]),
            idempotency_key=key,
            require_encryption=bool(data.get("require_encryption", False)),
        )
        return _Item(key, entry.lane, str(data["adapter"]), message)
    except (ValueError, KeyError, TypeError):
        return None
