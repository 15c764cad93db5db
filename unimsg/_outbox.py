"""The durable outbox: sends written down before they are tried, retried until delivered.

Each queued send keeps its idempotency key for life, so a retry after a
timeout, a crash or a restart is the same send to the network (Matrix answers
it with the same event id). Sends to one conversation leave in order; a slow
or failing conversation does not hold up the others.

Networks without idempotent sends (Signal) get no blind retries: a send that
may have gone out (`OutcomeUnknownError`, or an attempt a crash interrupted)
leaves the queue with status ``"unknown"`` instead of going out twice. Only
what certainly did not go out is retried.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio

if TYPE_CHECKING:
    from anyio.abc import TaskGroup, TaskStatus
    from anyio.streams.memory import MemoryObjectSendStream

from ._adapter import Adapter, OutgoingMessage
from ._address import Address
from ._exceptions import ConnectError, OutcomeUnknownError, RateLimitedError, RemoteProtocolError
from ._lifecycle import leaves
from ._log import logger
from ._store import OutboxEntry, Store
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
    def __init__(
        self,
        store: Store,
        adapters: Callable[[str], Adapter],
        *,
        initial_backoff: float = 0.5,
        max_backoff: float = 60.0,
    ) -> None:
        self._store = store
        self._adapters = adapters
        #: Seconds before the first retry of a failed send; doubles up to ``max_backoff``.
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self._lanes: dict[str, MemoryObjectSendStream[_Item]] = {}
        self._waiters: dict[str, QueuedMessage] = {}
        self._queued: set[str] = set()
        self._tg: TaskGroup | None = None

    async def run(self, *, task_status: TaskStatus[None]) -> None:
        async with anyio.create_task_group() as tg:
            self._tg = tg
            for entry in await self._store.outbox_pending():
                key = entry.key
                item = _decode(entry)
                if item is None:
                    logger("unimsg.outbox").error("dropping unreadable outbox entry %s", key)
                    await self._store.outbox_remove(key)
                    continue
                await self._dispatch(item)
            task_status.started()
            await anyio.sleep_forever()

    async def enqueue(self, adapter_name: str, message: OutgoingMessage) -> QueuedMessage:
        key = message.idempotency_key
        lane = f"{adapter_name}\x1f{message.to}"
        item = _Item(key, lane, adapter_name, message)
        await self._store.outbox_add(OutboxEntry(key=key, lane=lane, payload=_encode(item)))
        queued = self._waiters.setdefault(key, QueuedMessage(key))
        await self._dispatch(item)
        return queued

    async def _dispatch(self, item: _Item) -> None:
        self._queued.add(item.key)
        lane = self._lanes.get(item.lane)
        if lane is None:
            assert self._tg is not None, "the outbox is not running"
            send, receive = anyio.create_memory_object_stream[_Item](math.inf)
            self._lanes[item.lane] = lane = send

            async def drain() -> None:
                async with receive:
                    async for queued in receive:
                        await self._deliver(queued)

            self._tg.start_soon(drain)
        await lane.send(item)

    async def status(self, key: str) -> str | None:
        """``"unknown"`` for a send given up because it may have gone out (see
        `OutcomeUnknownError`), ``"queued"`` while queued here, else ``None``.

        Kept in the store, so it answers for sends of an earlier run too.
        """
        if key in self._queued:
            return "queued"
        return await self._store.get(_STATUS + key)

    async def _deliver(self, item: _Item) -> None:
        adapter = self._adapters(item.adapter)
        # Without idempotency keys a second attempt after a possible first one duplicates.
        careful = not adapter.idempotent_sends
        marker = _ATTEMPT + item.key
        if careful and await self._store.get(marker) is not None:
            await self._unknown(
                item,
                OutcomeUnknownError(
                    f"an earlier run sent {item.key} and stopped before the answer: it may "
                    "have been delivered, so the outbox does not send it again"
                ),
            )
            return
        delay = self.initial_backoff
        attempt = 0
        while True:
            attempt += 1
            if careful:
                await self._store.put(marker, "1")
            try:
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
                wait = exc.retry_after if isinstance(exc, RateLimitedError) else None
                await self._backoff(item, attempt, exc, delay if wait is None else wait)
                delay = min(delay * 2, self.max_backoff)
                continue
            except TRANSIENT as exc:
                # Certainly not sent (the adapter says OutcomeUnknownError otherwise).
                if careful:
                    await self._store.put(marker, None)
                wait = exc.retry_after if isinstance(exc, RateLimitedError) else None
                await self._backoff(item, attempt, exc, delay if wait is None else wait)
                delay = min(delay * 2, self.max_backoff)
                continue
            except Exception as exc:
                logger("unimsg.outbox").error(
                    "outbox send %s failed for good: %s", item.key, type(exc).__name__
                )
                await self._done(item, exc)
                return
            await self._done(item, sent)
            return

    async def _backoff(self, item: _Item, attempt: int, exc: Exception, wait: float) -> None:
        logger("unimsg.outbox").warning(
            "outbox send %s failed (attempt %d, %s); retrying in %.1fs",
            item.key,
            attempt,
            type(exc).__name__,
            wait,
        )
        await anyio.sleep(wait)

    async def _unknown(self, item: _Item, exc: OutcomeUnknownError) -> None:
        logger("unimsg.outbox").error(
            "outbox send %s may or may not have been delivered; not sending it again "
            "(status 'unknown')",
            item.key,
        )
        await self._store.put(_STATUS + item.key, "unknown")
        await self._done(item, exc)

    async def _done(self, item: _Item, result: SentMessage | BaseException) -> None:
        self._queued.discard(item.key)
        await self._store.outbox_remove(item.key)
        await self._store.put(_ATTEMPT + item.key, None)
        self._finish(item.key, result)

    def _finish(self, key: str, result: SentMessage | BaseException) -> None:
        waiter = self._waiters.pop(key, None)
        if waiter is not None:
            waiter._finish(result)


def new_key() -> str:
    return os.urandom(16).hex()


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

    key, lane = entry.key, entry.lane
    try:
        data = json.loads(entry.payload)
        message = OutgoingMessage(
            to=Address.parse(data["to"]),
            content=content_from_json(data["content"]),
            idempotency_key=key,
            require_encryption=bool(data.get("require_encryption", False)),
        )
        return _Item(key, lane, str(data["adapter"]), message)
    except (ValueError, KeyError, TypeError):
        return None
