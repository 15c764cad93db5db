"""Where the sync loop resumes: the client's store when it gives one, else state.json.

Given an `AdapterState` (the client has a store), the position lives only
there, next to the client's acknowledgements, so every process sharing the
store resumes from it. A position left in state.json by an earlier run
moves there once and leaves the file, so the two never disagree. A shared
position is written only once the room keys received before it are in the
key backup: another host resuming from it skips its own copies of them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

import anyio

from unimsg import AdapterState, UnimsgError

from ._store import StateStore

__all__ = ["SyncPosition"]

log = logging.getLogger("unimsg.matrix")

_KEY = "sync_token"
#: The position is written at most this often (seconds), and when the adapter stops:
#: a write per sync was a large part of a sequential sender's CPU (one sync per message),
#: and a position written late only means a redelivery that the client's store drops.
SAVE_INTERVAL = 1.0
#: Seconds a position waits for the room keys received before it to be backed up.
BACKUP_WAIT = 10.0


class SyncPosition:
    def __init__(self, state: StateStore, shared: AdapterState | None) -> None:
        self._state = state
        self._shared = shared
        self._token: str | None = None
        self._written: str | None = None
        self._written_at = -SAVE_INTERVAL
        #: Awaited before a position goes into the store (the key backup's upload): a
        #: host resuming from it skips the room keys sent to its own device until there,
        #: and must find those this device received in the backup.
        self.before_shared_write: Callable[[], Awaitable[object]] | None = None

    async def load(self) -> str | None:
        """The committed position, or None on a first start."""
        local = self._state.sync_token
        if self._shared is None:
            self._token = local
            return local
        token = await self._shared.get(_KEY)
        if token is None and local is not None:
            token = local
            await self._shared.put(_KEY, token)
        if local is not None:
            # The store holds the position from now on; a stale copy in the file
            # would rewind a later run that has no store.
            self._state.sync_token = None
            self._state.save()
        self._token = self._written = token
        return token

    async def commit(self, token: str, *, now: bool = False) -> None:
        """Move the position to ``token``; written at once with ``now``, else at most
        every `SAVE_INTERVAL` seconds (`flush` writes what is held back)."""
        self._token = token
        if now or time.monotonic() - self._written_at >= SAVE_INTERVAL:
            await self.flush()

    async def flush(self) -> None:
        token = self._token
        if token is None or token == self._written:
            return
        if self._shared is not None and self.before_shared_write is not None:
            try:
                # Bounded: a homeserver that hangs must not hold a stopping adapter.
                with anyio.fail_after(BACKUP_WAIT):
                    await self.before_shared_write()
            except (UnimsgError, TimeoutError) as exc:
                # Held back (a later redelivery, which the store drops), tried again later.
                self._written_at = time.monotonic()
                log.debug("sync position held back: room keys not backed up (%r)", exc)
                return
        self._written, self._written_at = token, time.monotonic()
        if self._shared is None:
            self._state.sync_token = token
            self._state.save(durable=False)
        else:
            await self._shared.put(_KEY, token)
