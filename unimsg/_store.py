"""Where a client keeps what must survive a restart: one `Store` for all of it.

A store holds four things: the keys of handled events (de-duplication),
named values (resume positions), the durable outbox and the relay's id map;
and two kinds of claim, so that several processes can share one store: a
worker's claim on a queued send, and a lease on an account's event stream.
Every operation is one async call that is one transaction, with plain
strings and unimsg's value types as arguments, so that a server database
(PostgreSQL, with several workers) implements the same protocol; nothing in
it depends on SQLite. `SqliteStore` (in ``_sqlite``) is the embedded
implementation and `MemoryStore` the one for tests and throwaway programs.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import attrs

from ._types import MessageRef

if TYPE_CHECKING:
    from ._records import LeaseInfo, OutboxEntry

__all__ = ["MemoryStore", "Store"]


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

    async def outbox_claim(
        self, worker: str, *, limit: int, lease: float, prefixes: Collection[str] = ()
    ) -> list[OutboxEntry]:
        """Claim for ``worker`` up to ``limit`` sends, oldest first, to send them.

        With ``prefixes``, only lanes whose name starts with one of them.

        Only the oldest entry of a lane is claimable, and only while no live
        claim holds it, so one lane's sends leave in order across workers. A
        claim lasts ``lease`` seconds unless renewed; an expired one is taken
        over, and the entry then comes with ``taken_over`` set.
        """
        ...

    async def outbox_renew(self, worker: str, lease: float) -> None:
        """Extend every claim ``worker`` holds to ``lease`` seconds from now."""
        ...

    async def outbox_release(self, worker: str, keys: Collection[str]) -> None:
        """Give back claims whose send was not attempted: they are free at once."""
        ...

    async def outbox_size(self) -> int:
        """How many sends are queued (claimed or not)."""
        ...

    async def lease(self, name: str, holder: str, ttl: float) -> bool:
        """Take or renew the lease ``name`` for ``ttl`` seconds; whether ``holder`` holds it.

        A lease held by another holder is taken only once it expired.
        """
        ...

    async def lease_release(self, name: str, holder: str) -> None:
        """Give up the lease if ``holder`` holds it, so that a standby takes it at once."""
        ...

    async def leases(self) -> list[LeaseInfo]:
        """The live leases, by name."""
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
        # key -> (worker, claimed until); lease name -> (holder, until, since).
        self._claims: dict[str, tuple[str, float]] = {}
        self._leases: dict[str, tuple[str, float, float]] = {}
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
        self._claims.pop(key, None)

    async def outbox_claim(
        self, worker: str, *, limit: int, lease: float, prefixes: Collection[str] = ()
    ) -> list[OutboxEntry]:
        now = time.monotonic()
        heads: dict[str, OutboxEntry] = {}
        for entry in self._outbox.values():
            if not prefixes or entry.lane.startswith(tuple(prefixes)):
                heads.setdefault(entry.lane, entry)
        claimed: list[OutboxEntry] = []
        for entry in heads.values():
            if len(claimed) >= limit:
                break
            holder = self._claims.get(entry.key)
            if holder is not None and holder[1] > now:
                continue
            self._claims[entry.key] = (worker, now + lease)
            claimed.append(attrs.evolve(entry, taken_over=holder is not None))
        return claimed

    async def outbox_renew(self, worker: str, lease: float) -> None:
        until = time.monotonic() + lease
        for key, (holder, _) in self._claims.items():
            if holder == worker:
                self._claims[key] = (worker, until)

    async def outbox_release(self, worker: str, keys: Collection[str]) -> None:
        for key in keys:
            if self._claims.get(key, ("", 0.0))[0] == worker:
                del self._claims[key]

    async def outbox_size(self) -> int:
        return len(self._outbox)

    async def lease(self, name: str, holder: str, ttl: float) -> bool:
        now = time.monotonic()
        current = self._leases.get(name)
        if current is not None and current[0] != holder and current[1] > now:
            return False
        since = current[2] if current is not None and current[0] == holder else now
        self._leases[name] = (holder, now + ttl, since)
        return True

    async def lease_release(self, name: str, holder: str) -> None:
        if self._leases.get(name, ("", 0.0, 0.0))[0] == holder:
            del self._leases[name]

    async def leases(self) -> list[LeaseInfo]:
        from ._records import LeaseInfo

        now = time.monotonic()
        return [
            LeaseInfo(name=name, holder=holder, age=now - since, left=until - now)
            for name, (holder, until, since) in sorted(self._leases.items())
            if until > now
        ]

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
