"""Where a client keeps what must survive a restart: one `Store` for all of it.

A store holds four things: the keys of handled events (de-duplication),
named values (resume positions), the durable outbox and the relay's id map.
Every operation is one async call that is one transaction, with plain
strings and unimsg's value types as arguments, so that a server database
(PostgreSQL, with several workers) implements the same protocol; nothing in
it depends on SQLite. `SqliteStore` (in ``_sqlite``) is the embedded
implementation and `MemoryStore` the one for tests and throwaway programs.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol, runtime_checkable

import attrs

from ._types import MessageRef

__all__ = ["MemoryStore", "OutboxEntry", "Store"]


@attrs.frozen(kw_only=True)
class OutboxEntry:
    """A queued send: its idempotency ``key``, its ordering ``lane``, its encoded ``payload``."""

    key: str
    lane: str
    payload: str


@runtime_checkable
class Store(Protocol):
    """What the client, its outbox and the relays keep.

    The client calls `open` when it starts and `close` when it stops.
    """

    async def open(self) -> None:
        """Create or upgrade the storage; `StoreVersionError` if it is newer than this code."""
        ...

    async def close(self) -> None: ...

    async def seen(self, keys: Collection[str]) -> set[str]:
        """Which of ``keys`` were remembered (events handled before)."""
        ...

    async def remember(self, keys: Collection[str]) -> None:
        """Remember ``keys``, all in one transaction."""
        ...

    async def get(self, name: str) -> str | None:
        """A named value (a resume position)."""
        ...

    async def put(self, name: str, value: str | None) -> None:
        """Set a named value; ``None`` removes it."""
        ...

    async def outbox_add(self, entry: OutboxEntry) -> None:
        """Queue a send before it is attempted; a key already queued is left as it is."""
        ...

    async def outbox_pending(self) -> list[OutboxEntry]:
        """Queued sends, oldest first."""
        ...

    async def outbox_remove(self, key: str) -> None:
        """Forget a send that was delivered or failed for good."""
        ...

    async def relay_record(self, relay: str, origin: MessageRef, copy: MessageRef) -> None:
        """Remember that ``copy`` is relay ``relay``'s copy of ``origin`` (first pair wins)."""
        ...

    async def relay_copy(self, relay: str, conversation: str, message_id: str) -> MessageRef | None:
        """The copy of the original ``message_id`` in ``conversation``."""
        ...

    async def relay_origin(
        self, relay: str, conversation: str, message_id: str
    ) -> MessageRef | None:
        """The original of the copy ``message_id`` in ``conversation``."""
        ...


class MemoryStore:
    """Forgets everything at exit: de-duplication within one run only."""

    def __init__(self, limit: int = 100_000) -> None:
        self._seen: dict[str, None] = {}
        self._values: dict[str, str] = {}
        self._outbox: dict[str, OutboxEntry] = {}
        self._copies: dict[tuple[str, str, str], MessageRef] = {}
        self._origins: dict[tuple[str, str, str], MessageRef] = {}
        self._limit = limit

    def __repr__(self) -> str:
        return "MemoryStore()"

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def seen(self, keys: Collection[str]) -> set[str]:
        return {key for key in keys if key in self._seen}

    async def remember(self, keys: Collection[str]) -> None:
        for key in keys:
            self._seen[key] = None
        while len(self._seen) > self._limit:
            del self._seen[next(iter(self._seen))]

    async def get(self, name: str) -> str | None:
        return self._values.get(name)

    async def put(self, name: str, value: str | None) -> None:
        if value is None:
            self._values.pop(name, None)
        else:
            self._values[name] = value

    async def outbox_add(self, entry: OutboxEntry) -> None:
        self._outbox.setdefault(entry.key, entry)

    async def outbox_pending(self) -> list[OutboxEntry]:
        return list(self._outbox.values())

    async def outbox_remove(self, key: str) -> None:
        self._outbox.pop(key, None)

    async def relay_record(self, relay: str, origin: MessageRef, copy: MessageRef) -> None:
        at_origin = (relay, str(origin.conversation), origin.id)
        at_copy = (relay, str(copy.conversation), copy.id)
        if at_origin in self._copies or at_copy in self._origins:
            return
        self._copies[at_origin] = copy
        self._origins[at_copy] = origin

    async def relay_copy(self, relay: str, conversation: str, message_id: str) -> MessageRef | None:
        return self._copies.get((relay, conversation, message_id))

    async def relay_origin(
        self, relay: str, conversation: str, message_id: str
    ) -> MessageRef | None:
        return self._origins.get((relay, conversation, message_id))
