"""One active reader per account: a lease in the shared store decides which process reads.

A client given ``reader_lease=ttl`` waits as a standby until it holds the
lease, then starts its adapters and renews the lease every third of
``ttl``. The lease lives in the store with the store's clock (PostgreSQL's
``now()``), so hosts need no synchronised clocks. A reader that cannot
renew (it lost the database, or another process holds the lease) stops
reading before its lease can have expired, by failing the client with
`ConnectError`, the way leader election in cluster managers ends a leader
that lost its lease: the process restarts as a standby. A standby takes
over at most ``ttl`` plus a quarter of it after the reader stopped renewing.
"""

from __future__ import annotations

import logging
import time

import anyio

from ._exceptions import ConnectError, InvalidArgumentError, UnimsgError
from ._store import Store

__all__ = ["ReaderLease"]

log = logging.getLogger("unimsg")


class ReaderLease:
    def __init__(self, store: Store, name: str, holder: str, ttl: float) -> None:
        if ttl <= 0:
            raise InvalidArgumentError(f"reader_lease must be positive seconds, not {ttl!r}")
        self._store = store
        self.name = name
        self.holder = holder
        self.ttl = ttl
        #: When this process took the lease (monotonic), ``None`` while standing by.
        self.since: float | None = None

    @property
    def role(self) -> str:
        return "standby" if self.since is None else "active"

    def age(self) -> float | None:
        """Seconds this process has held the lease."""
        return None if self.since is None else time.monotonic() - self.since

    async def acquire(self) -> None:
        """Wait as a standby until this process holds the lease."""
        while True:
            try:
                if await self._store.lease(self.name, self.holder, self.ttl):
                    break
            except UnimsgError as exc:
                log.warning("standby cannot reach the store (%s)", exc)
            await anyio.sleep(self.ttl / 4)
        self.since = time.monotonic()
        log.info("reader lease %s taken by %s", self.name, self.holder)

    async def keep(self) -> None:
        """Renew until the lease is lost; then raise `ConnectError`."""
        renewed = time.monotonic()
        while True:
            await anyio.sleep(self.ttl / 3)
            try:
                held = await self._renew()
            except (UnimsgError, TimeoutError) as exc:
                held = None
                log.warning("reader cannot renew its lease (%s)", type(exc).__name__)
            if held:
                renewed = time.monotonic()
            elif held is False or time.monotonic() - renewed > self.ttl * 2 / 3:
                # Stop before the lease can expire, so that two readers never overlap.
                self.since = None
                raise ConnectError(
                    f"lost the reader lease {self.name}: another process reads these accounts now"
                )

    async def _renew(self) -> bool:
        # Bounded: a hung database must not keep this reader past its lease.
        with anyio.fail_after(self.ttl / 3):
            return await self._store.lease(self.name, self.holder, self.ttl)

    async def release(self) -> None:
        if self.since is None:
            return
        self.since = None
        with anyio.move_on_after(5, shield=True):
            try:
                await self._store.lease_release(self.name, self.holder)
            except UnimsgError as exc:
                log.warning("could not release the reader lease (%s); it expires", exc)
