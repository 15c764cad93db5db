"""Where the client keeps what must survive a restart.

`Store` is the small interface; `SqliteStore` (the embedded default for
persistent state) and `MemoryStore` implement it. Keys are plain strings so
that another backend (Redis, PostgreSQL) needs nothing unimsg-specific.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Protocol, runtime_checkable

__all__ = ["MemoryStore", "SqliteStore", "Store", "create_private_file"]


@runtime_checkable
class Store(Protocol):
    def seen(self, key: str) -> bool:
        """Whether ``key`` was remembered (an event handled before)."""
        ...

    def remember(self, key: str) -> None: ...

    def get(self, name: str) -> str | None:
        """A named value (a resume position, an idempotency key)."""
        ...

    def put(self, name: str, value: str | None) -> None:
        """Set a named value; ``None`` removes it."""
        ...

    def outbox_add(self, key: str, lane: str, payload: str) -> None:
        """Queue a send (once per key), before it is attempted."""
        ...

    def outbox_pending(self) -> list[tuple[str, str, str]]:
        """Queued sends as (key, lane, payload), oldest first."""
        ...

    def outbox_remove(self, key: str) -> None: ...

    def close(self) -> None: ...


class MemoryStore:
    """Forgets everything at exit: de-duplication within one run only."""

    def __init__(self, limit: int = 100_000) -> None:
        self._seen: dict[str, None] = {}
        self._values: dict[str, str] = {}
        self._outbox: dict[str, tuple[str, str]] = {}
        self._limit = limit

    def seen(self, key: str) -> bool:
        return key in self._seen

    def remember(self, key: str) -> None:
        self._seen[key] = None
        if len(self._seen) > self._limit:
            del self._seen[next(iter(self._seen))]

    def get(self, name: str) -> str | None:
        return self._values.get(name)

    def put(self, name: str, value: str | None) -> None:
        if value is None:
            self._values.pop(name, None)
        else:
            self._values[name] = value

    def outbox_add(self, key: str, lane: str, payload: str) -> None:
        self._outbox.setdefault(key, (lane, payload))

    def outbox_pending(self) -> list[tuple[str, str, str]]:
        return [(key, lane, payload) for key, (lane, payload) in self._outbox.items()]

    def outbox_remove(self, key: str) -> None:
        self._outbox.pop(key, None)

    def close(self) -> None:
        pass


def create_private_file(path: Path) -> None:
    """Create ``path`` readable by its owner only, before anything writes to it."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


class SqliteStore:
    """An SQLite file (mode 0600) holding handled-event keys and named values.

    Writes are small and use WAL with ``synchronous=NORMAL``: a commit costs
    microseconds, and a power cut can lose at most the last few commits — the
    events behind them are then delivered again, never lost. Keys older than
    ``retention`` seconds are pruned; networks do not redeliver that late.
    """

    def __init__(self, path: str | os.PathLike[str], *, retention: float = 14 * 86400) -> None:
        self.path = Path(path)
        create_private_file(self.path)
        # Imported here: most programs never open one, and `import unimsg` should stay quick.
        import sqlite3

        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS seen (key TEXT PRIMARY KEY, at REAL NOT NULL)")
        self._db.execute("CREATE TABLE IF NOT EXISTS kv (name TEXT PRIMARY KEY, value TEXT)")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
            " key TEXT UNIQUE NOT NULL, lane TEXT NOT NULL, payload TEXT NOT NULL)"
        )
        self._db.execute("DELETE FROM seen WHERE at < ?", (time.time() - retention,))
        for suffix in ("-wal", "-shm"):
            side = self.path.with_name(self.path.name + suffix)
            if side.exists():
                os.chmod(side, 0o600)

    def __repr__(self) -> str:
        return f"SqliteStore({str(self.path)!r})"

    def seen(self, key: str) -> bool:
        row = self._db.execute("SELECT 1 FROM seen WHERE key = ?", (key,)).fetchone()
        return row is not None

    def remember(self, key: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO seen (key, at) VALUES (?, ?)", (key, time.time()))

    def get(self, name: str) -> str | None:
        row = self._db.execute("SELECT value FROM kv WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def put(self, name: str, value: str | None) -> None:
        if value is None:
            self._db.execute("DELETE FROM kv WHERE name = ?", (name,))
        else:
            self._db.execute("INSERT OR REPLACE INTO kv (name, value) VALUES (?, ?)", (name, value))

    def outbox_add(self, key: str, lane: str, payload: str) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO outbox (key, lane, payload) VALUES (?, ?, ?)",
            (key, lane, payload),
        )

    def outbox_pending(self) -> list[tuple[str, str, str]]:
        rows = self._db.execute("SELECT key, lane, payload FROM outbox ORDER BY seq").fetchall()
        return [(str(k), str(lane), str(p)) for k, lane, p in rows]

    def outbox_remove(self, key: str) -> None:
        self._db.execute("DELETE FROM outbox WHERE key = ?", (key,))

    def close(self) -> None:
        self._db.close()
