"""The embedded `Store`: one SQLite file, private, versioned, off the event loop.

Every call runs in a worker thread, one at a time (a capacity limiter of
one), so the event loop never waits on the disk; docs/decisions/0013 has
the measurements behind that choice. WAL with ``synchronous=NORMAL``: a
commit costs microseconds and a power cut can lose at most the last few,
whose events are then delivered again, never lost.

The schema carries its version in ``schema_version``; `open` applies the
forward migrations a file lacks, in one transaction, and refuses a file
written by a newer unimsg with `StoreVersionError`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Collection
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import anyio
import anyio.to_thread

from ._address import Address
from ._exceptions import ClosedError, StoreVersionError
from ._records import LeaseInfo, OutboxEntry
from ._types import MessageRef

if TYPE_CHECKING:
    import sqlite3

__all__ = ["SCHEMA_VERSION", "SqliteStore"]

T = TypeVar("T")

# Version 1 adopts the tables of the first release as they were: a client
# state file (seen, kv, outbox) and a relay id map file (copies, handled)
# both open as a version 1 store. The relay's "handled" marks become seen keys.
_V1 = """
CREATE TABLE IF NOT EXISTS seen (key TEXT PRIMARY KEY, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS kv (name TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT UNIQUE NOT NULL, lane TEXT NOT NULL, payload TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS copies (
    relay TEXT NOT NULL,
    origin_conversation TEXT NOT NULL, origin_id TEXT NOT NULL,
    origin_sender TEXT NOT NULL, origin_time TEXT NOT NULL,
    copy_conversation TEXT NOT NULL, copy_id TEXT NOT NULL,
    copy_sender TEXT NOT NULL, copy_time TEXT NOT NULL,
    PRIMARY KEY (relay, origin_conversation, origin_id)
);
CREATE UNIQUE INDEX IF NOT EXISTS copies_by_copy ON copies (relay, copy_conversation, copy_id)
"""


def _migrate_1(db: sqlite3.Connection) -> None:
    for statement in _V1.split(";"):
        db.execute(statement)
    if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'handled'").fetchone():
        db.execute(
            "INSERT OR IGNORE INTO seen (key, at) SELECT "
            "'relay' || char(31) || relay || char(31) || conversation || char(31) || event_id, ?"
            " FROM handled",
            (time.time(),),
        )
        db.execute("DROP TABLE handled")


def _migrate_2(db: sqlite3.Connection) -> None:
    # Claims on queued sends and leases, the same tables as a PostgreSQL store.
    db.execute("ALTER TABLE outbox ADD COLUMN claimed_by TEXT")
    db.execute("ALTER TABLE outbox ADD COLUMN claimed_until REAL")
    db.execute(
        "CREATE TABLE leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL,"
        " since REAL NOT NULL, until REAL NOT NULL)"
    )


#: Migration n + 1 takes a file from version n to n + 1. Append only.
MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (_migrate_1, _migrate_2)
SCHEMA_VERSION = len(MIGRATIONS)


class SqliteStore:
    """An SQLite file (mode 0600) holding everything a client keeps.

    ``path`` may be ``":memory:"`` for a store that lives as long as the
    object. Handled-event keys older than ``retention`` seconds are pruned
    when the store opens; networks do not redeliver that late.
    """

    def __init__(self, path: str | os.PathLike[str], *, retention: float = 14 * 86400) -> None:
        self.path = Path(path).expanduser() if str(path) != ":memory:" else None
        self.retention = retention
        self._db: sqlite3.Connection | None = None
        self._limiter: anyio.CapacityLimiter | None = None

    def __repr__(self) -> str:
        return f"SqliteStore({str(self.path or ':memory:')!r})"

    async def __aenter__(self) -> SqliteStore:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- lifecycle --------------------------------------------------------------------

    async def open(self) -> None:
        if self._db is not None:
            return
        self._limiter = anyio.CapacityLimiter(1)
        self._db = await anyio.to_thread.run_sync(self._connect, limiter=self._limiter)

    def _connect(self) -> sqlite3.Connection:
        # Imported here: most programs never open one, and `import unimsg` should stay quick.
        import sqlite3

        if self.path is not None:
            create_private_file(self.path)
        db = sqlite3.connect(self.path or ":memory:", isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            _upgrade(db)
            db.execute("DELETE FROM seen WHERE at < ?", (time.time() - self.retention,))
            # One process uses an SQLite file: claims left by a run that died expire now,
            # and are taken over (with the outcome-unknown rule) instead of waited out.
            db.execute("UPDATE outbox SET claimed_until = 0 WHERE claimed_by IS NOT NULL")
        except BaseException:
            db.close()
            raise
        if self.path is not None:
            for suffix in ("-wal", "-shm"):
                side = self.path.with_name(self.path.name + suffix)
                if side.exists():
                    os.chmod(side, 0o600)
        return db

    async def close(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            await anyio.to_thread.run_sync(db.close, limiter=self._limiter)

    async def _call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        db = self._db
        if db is None:
            raise ClosedError(f"{self!r} is not open")
        return await anyio.to_thread.run_sync(work, db, limiter=self._limiter)

    # -- de-duplication and values --------------------------------------------------------

    async def seen(self, keys: Collection[str]) -> set[str]:
        wanted = list(keys)

        def query(db: sqlite3.Connection) -> set[str]:
            found: set[str] = set()
            # Chunks stay under SQLite's bound-parameter limit.
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = db.execute(f"SELECT key FROM seen WHERE key IN ({marks})", chunk)  # noqa: S608
                found.update(str(row[0]) for row in rows)
            return found

        return await self._call(query) if wanted else set()

    async def remember(self, keys: Collection[str]) -> None:
        now = time.time()
        rows = [(key, now) for key in keys]

        def write(db: sqlite3.Connection) -> None:
            with _transaction(db):
                db.executemany("INSERT OR REPLACE INTO seen (key, at) VALUES (?, ?)", rows)

        if rows:
            await self._call(write)

    async def get(self, name: str) -> str | None:
        def query(db: sqlite3.Connection) -> str | None:
            row = db.execute("SELECT value FROM kv WHERE name = ?", (name,)).fetchone()
            return None if row is None else str(row[0])

        return await self._call(query)

    async def put(self, name: str, value: str | None) -> None:
        def write(db: sqlite3.Connection) -> None:
            if value is None:
                db.execute("DELETE FROM kv WHERE name = ?", (name,))
            else:
                db.execute("INSERT OR REPLACE INTO kv (name, value) VALUES (?, ?)", (name, value))

        await self._call(write)

    # -- outbox --------------------------------------------------------------------------------

    async def outbox_add(self, entry: OutboxEntry) -> None:
        row = (entry.key, entry.lane, entry.payload)
        await self._call(
            lambda db: db.execute(
                "INSERT OR IGNORE INTO outbox (key, lane, payload) VALUES (?, ?, ?)", row
            )
        )

    async def outbox_pending(self) -> list[OutboxEntry]:
        def query(db: sqlite3.Connection) -> list[OutboxEntry]:
            rows = db.execute("SELECT key, lane, payload FROM outbox ORDER BY seq").fetchall()
            return [OutboxEntry(key=str(k), lane=str(n), payload=str(p)) for k, n, p in rows]

        return await self._call(query)

    async def outbox_remove(self, key: str) -> None:
        await self._call(lambda db: db.execute("DELETE FROM outbox WHERE key = ?", (key,)))

    async def outbox_claim(
        self, worker: str, *, limit: int, lease: float, prefixes: Collection[str] = ()
    ) -> list[OutboxEntry]:
        wanted = list(prefixes)
        # One placeholder pair per prefix; the SQL text holds no input.
        only = " OR ".join(["substr(lane, 1, length(?)) = ?"] * len(wanted)) or "1"
        params = [p for prefix in wanted for p in (prefix, prefix)]

        def claim(db: sqlite3.Connection) -> list[OutboxEntry]:
            now = time.time()
            with _transaction(db, "IMMEDIATE"):
                rows = db.execute(
                    "SELECT key, lane, payload, claimed_by FROM outbox"  # noqa: S608
                    f" WHERE seq IN (SELECT min(seq) FROM outbox WHERE {only} GROUP BY lane)"
                    " AND (claimed_until IS NULL OR claimed_until < ?) ORDER BY seq LIMIT ?",
                    (*params, now, limit),
                ).fetchall()
                db.executemany(
                    "UPDATE outbox SET claimed_by = ?, claimed_until = ? WHERE key = ?",
                    [(worker, now + lease, row[0]) for row in rows],
                )
            return [
                OutboxEntry(key=k, lane=n, payload=p, taken_over=by is not None)
                for k, n, p, by in rows
            ]

        return await self._call(claim)

    async def outbox_renew(self, worker: str, lease: float) -> None:
        await self._call(
            lambda db: db.execute(
                "UPDATE outbox SET claimed_until = ? WHERE claimed_by = ?",
                (time.time() + lease, worker),
            )
        )

    async def outbox_release(self, worker: str, keys: Collection[str]) -> None:
        rows = [(worker, key) for key in keys]

        def write(db: sqlite3.Connection) -> None:
            with _transaction(db):
                db.executemany(
                    "UPDATE outbox SET claimed_by = NULL, claimed_until = NULL"
                    " WHERE claimed_by = ? AND key = ?",
                    rows,
                )

        if rows:
            await self._call(write)

    async def outbox_size(self) -> int:
        row = await self._call(lambda db: db.execute("SELECT count(*) FROM outbox").fetchone())
        return int(row[0])

    async def lease(self, name: str, holder: str, ttl: float) -> bool:
        def take(db: sqlite3.Connection) -> bool:
            now = time.time()
            cursor = db.execute(
                "INSERT INTO leases (name, holder, since, until) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,"
                " since = CASE WHEN leases.holder = excluded.holder THEN leases.since"
                " ELSE excluded.since END, until = excluded.until"
                " WHERE leases.holder = excluded.holder OR leases.until < ?",
                (name, holder, now, now + ttl, now),
            )
            return cursor.rowcount == 1

        return await self._call(take)

    async def leases(self) -> list[LeaseInfo]:
        def query(db: sqlite3.Connection) -> list[LeaseInfo]:
            now = time.time()
            rows = db.execute(
                "SELECT name, holder, since, until FROM leases WHERE until > ? ORDER BY name",
                (now,),
            ).fetchall()
            return [
                LeaseInfo(name=n, holder=h, age=now - since, left=until - now)
                for n, h, since, until in rows
            ]

        return await self._call(query)

    async def lease_release(self, name: str, holder: str) -> None:
        await self._call(
            lambda db: db.execute(
                "DELETE FROM leases WHERE name = ? AND holder = ?", (name, holder)
            )
        )

    # -- relay id map ----------------------------------------------------------------------------

    async def relay_record(self, relay: str, origin: MessageRef, copy: MessageRef) -> None:
        row = (relay, *_row(origin), *_row(copy))
        await self._call(
            lambda db: db.execute("INSERT OR IGNORE INTO copies VALUES (?,?,?,?,?,?,?,?,?)", row)
        )

    async def relay_copy(self, relay: str, conversation: str, message_id: str) -> MessageRef | None:
        return await self._find("copy", "origin", relay, conversation, message_id)

    async def relay_origin(
        self, relay: str, conversation: str, message_id: str
    ) -> MessageRef | None:
        return await self._find("origin", "copy", relay, conversation, message_id)

    async def _find(
        self, want: str, have: str, relay: str, conversation: str, mid: str
    ) -> MessageRef | None:
        # Column names come from the literals of the two callers, never from input.
        sql = (
            f"SELECT {want}_conversation, {want}_id, {want}_sender, {want}_time FROM copies "  # noqa: S608
            f"WHERE relay = ? AND {have}_conversation = ? AND {have}_id = ?"
        )
        row = await self._call(lambda db: db.execute(sql, (relay, conversation, mid)).fetchone())
        if row is None:
            return None
        return MessageRef(
            conversation=Address.parse(row[0]),
            id=row[1],
            sender=Address.parse(row[2]),
            timestamp=datetime.fromisoformat(row[3]),
        )


class _transaction:
    def __init__(self, db: sqlite3.Connection, mode: str = "") -> None:
        self._db, self._mode = db, mode

    def __enter__(self) -> None:
        self._db.execute(f"BEGIN {self._mode}")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self._db.execute("ROLLBACK" if exc_type is not None else "COMMIT")


def _upgrade(db: sqlite3.Connection) -> None:
    with _transaction(db, "IMMEDIATE"):
        db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = db.execute("SELECT max(version) FROM schema_version").fetchone()
        version = int(row[0]) if row and row[0] is not None else 0
        if version > SCHEMA_VERSION:
            raise StoreVersionError(
                f"the store was written by a newer unimsg (schema {version}, this one "
                f"knows up to {SCHEMA_VERSION}); upgrade unimsg or use another store"
            )
        for migrate in MIGRATIONS[version:]:
            migrate(db)
        if version < SCHEMA_VERSION:
            db.execute("DELETE FROM schema_version")
            db.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))


def _row(ref: MessageRef) -> tuple[str, str, str, str]:
    return str(ref.conversation), ref.id, str(ref.sender), ref.timestamp.isoformat()


def create_private_file(path: Path) -> None:
    """Create ``path`` readable by its owner only, before anything writes to it."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)
