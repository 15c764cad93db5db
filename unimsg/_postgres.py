"""The shared `Store`: PostgreSQL, for several processes on several hosts.

It runs on psycopg 3 and its async pool (docs/decisions/0007 has the
measurements behind that choice), which keeps libpq's own ways of finding a
password (``PGPASSWORD``, ``~/.pgpass``, service files) besides the
environment variable the configuration names. Time comes from the server
(``now()``), so claims and leases mean the same on every host whatever its
clock says.

Every operation is one statement or one transaction, retried with backoff
while the server cannot be reached (all of them are safe to repeat), and
`ConnectError` once ``reconnect_timeout`` seconds passed. The schema is
versioned like the SQLite store's, with the same version numbers; several
processes opening one database at once upgrade it once, under a lock.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Awaitable, Callable, Collection
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import anyio

from ._address import Address
from ._exceptions import (
    AdapterNotFoundError,
    AuthenticationError,
    ClosedError,
    ConnectError,
    InvalidArgumentError,
    NotSupportedError,
    StoreVersionError,
    UnimsgError,
)
from ._store import OutboxEntry
from ._types import MessageRef

if TYPE_CHECKING:
    from psycopg import AsyncConnection
    from psycopg_pool import AsyncConnectionPool

__all__ = ["SCHEMA_VERSION", "PostgresStore"]

log = logging.getLogger("unimsg.store")
T = TypeVar("T")

# The same versions as the SQLite store's migrations: 1 the first release's
# tables, 2 the claims on queued sends and the leases.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE seen (key TEXT PRIMARY KEY, at TIMESTAMPTZ NOT NULL);
    CREATE TABLE kv (name TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE outbox (
        seq BIGSERIAL PRIMARY KEY,
        key TEXT UNIQUE NOT NULL, lane TEXT NOT NULL, payload TEXT NOT NULL
    );
    CREATE INDEX outbox_by_lane ON outbox (lane, seq);
    CREATE TABLE copies (
        relay TEXT NOT NULL,
        origin_conversation TEXT NOT NULL, origin_id TEXT NOT NULL,
        origin_sender TEXT NOT NULL, origin_time TEXT NOT NULL,
        copy_conversation TEXT NOT NULL, copy_id TEXT NOT NULL,
        copy_sender TEXT NOT NULL, copy_time TEXT NOT NULL,
        PRIMARY KEY (relay, origin_conversation, origin_id)
    );
    CREATE UNIQUE INDEX copies_by_copy ON copies (relay, copy_conversation, copy_id);
    """,
    """
    ALTER TABLE outbox ADD COLUMN claimed_by TEXT, ADD COLUMN claimed_until TIMESTAMPTZ;
    CREATE TABLE leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, until TIMESTAMPTZ NOT NULL);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
#: Any constant: the advisory lock that serialises schema upgrades.
_UPGRADE_LOCK = 0x756E696D7367

_CLAIM = """
WITH heads AS (
    SELECT DISTINCT ON (lane) seq, claimed_until FROM outbox
    WHERE cardinality(%(prefixes)s::text[]) = 0
       OR EXISTS (SELECT 1 FROM unnest(%(prefixes)s::text[]) p WHERE left(lane, length(p)) = p)
    ORDER BY lane, seq
), candidates AS (
    SELECT seq FROM heads WHERE claimed_until IS NULL OR claimed_until < now()
    ORDER BY seq LIMIT %(limit)s
), locked AS (
    -- Checked again under the row lock: a claim committed meanwhile wins.
    SELECT o.seq, o.claimed_by FROM outbox o
    WHERE o.seq IN (SELECT seq FROM candidates)
      AND (o.claimed_until IS NULL OR o.claimed_until < now())
    FOR UPDATE SKIP LOCKED
)
UPDATE outbox o SET claimed_by = %(worker)s,
    claimed_until = now() + make_interval(secs => %(lease)s)
FROM locked WHERE o.seq = locked.seq
RETURNING o.seq, o.key, o.lane, o.payload, locked.claimed_by IS NOT NULL
"""
_LEASE = """
INSERT INTO leases (name, holder, until) VALUES (%s, %s, now() + make_interval(secs => %s))
ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until
WHERE leases.holder = excluded.holder OR leases.until < now()
RETURNING 1
"""


def redact(url: str) -> str:
    """``url`` without a password, for reprs and messages."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "<not a postgresql:// URL>"
    credentials, at, host = rest.rpartition("@")
    if at and ":" in credentials:
        credentials = credentials.split(":", 1)[0] + ":***"
    return f"{scheme}://{credentials}{at}{host}"


class PostgresStore:
    """A PostgreSQL database holding what a client keeps, shareable by many processes.

    ``url`` is a ``postgresql://user@host:port/database`` URL without a
    password; the password comes from the environment variable named by
    ``password_env``, else from libpq's own ``PGPASSWORD`` or ``~/.pgpass``.
    Runs on asyncio (psycopg's async driver).
    """

    def __init__(
        self,
        url: str,
        *,
        password_env: str | None = None,
        retention: float = 14 * 86400,
        reconnect_timeout: float = 60.0,
        pool_size: int = 4,
    ) -> None:
        if not url.startswith(("postgresql://", "postgres://")):
            raise InvalidArgumentError(
                f"a PostgreSQL store URL starts with postgresql://, not {redact(url)!r}"
            )
        if redact(url) != url:
            raise InvalidArgumentError(
                f"the store URL {redact(url)!r} holds a password: put it in an environment "
                "variable (store_password_env) or PGPASSWORD instead"
            )
        self.url = url
        self.password_env = password_env
        self.retention = retention
        self.reconnect_timeout = reconnect_timeout
        self.pool_size = pool_size
        self._pool: AsyncConnectionPool[Any] | None = None

    def __repr__(self) -> str:
        return f"PostgresStore({self.url!r})"

    async def __aenter__(self) -> PostgresStore:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- lifecycle --------------------------------------------------------------------

    def _connect_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {"autocommit": True, "connect_timeout": 10}
        if self.password_env is not None:
            password = os.environ.get(self.password_env)
            if password is None:
                raise InvalidArgumentError(
                    f"the store's password variable {self.password_env} is not set"
                )
            args["password"] = password
        return args

    async def open(self) -> None:
        if self._pool is not None:
            return
        try:
            import psycopg
            from psycopg_pool import AsyncConnectionPool
        except ImportError as exc:
            raise AdapterNotFoundError(
                "the PostgreSQL store needs the postgres extra: pip install 'unimsg[postgres]'"
            ) from exc
        try:
            import asyncio

            asyncio.get_running_loop()
        except RuntimeError:
            raise NotSupportedError(
                "PostgresStore", "this event loop", "psycopg's async driver runs on asyncio"
            ) from None
        args = self._connect_args()
        try:
            psycopg.conninfo.conninfo_to_dict(self.url)
        except psycopg.ProgrammingError:
            raise InvalidArgumentError(f"not a valid PostgreSQL URL: {redact(self.url)}") from None
        try:
            conn = await psycopg.AsyncConnection.connect(self.url, **args)
        except psycopg.OperationalError as exc:
            raise _connect_error(self.url, exc) from None
        try:
            await _upgrade(conn, self.retention)
        finally:
            await conn.close()
        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            self.url,
            kwargs=args,
            min_size=1,
            max_size=self.pool_size,
            open=False,
            timeout=5.0,
            check=AsyncConnectionPool.check_connection,
            name="unimsg-store",
        )
        await pool.open()
        self._pool = pool

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def _run(self, work: Callable[[AsyncConnection[Any]], Awaitable[T]]) -> T:
        import psycopg
        from psycopg_pool import PoolTimeout

        pool = self._pool
        if pool is None:
            raise ClosedError(f"{self!r} is not open")
        deadline = time.monotonic() + self.reconnect_timeout
        delay = 0.1
        while True:
            try:
                async with pool.connection() as conn:
                    return await work(conn)
            except (psycopg.OperationalError, PoolTimeout) as exc:
                if time.monotonic() + delay > deadline:
                    raise ConnectError(
                        f"the store {redact(self.url)} is unreachable: {_first_line(exc)}"
                    ) from None
                log.warning(
                    "store %s unreachable (%s); retrying in %.1fs",
                    redact(self.url),
                    type(exc).__name__,
                    delay,
                )
                await anyio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _execute(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        async def work(conn: AsyncConnection[Any]) -> list[tuple[Any, ...]]:
            cursor = await conn.execute(sql, params)
            return await cursor.fetchall() if cursor.description else []

        return await self._run(work)

    # -- de-duplication and values --------------------------------------------------------

    async def seen(self, keys: Collection[str]) -> set[str]:
        if not keys:
            return set()
        rows = await self._execute("SELECT key FROM seen WHERE key = ANY(%s)", (list(keys),))
        return {str(row[0]) for row in rows}

    async def remember(self, keys: Collection[str]) -> None:
        unique = list(dict.fromkeys(keys))
        if unique:
            await self._execute(
                "INSERT INTO seen (key, at) SELECT unnest(%s::text[]), now()"
                " ON CONFLICT (key) DO UPDATE SET at = excluded.at",
                (unique,),
            )

    async def get(self, name: str) -> str | None:
        rows = await self._execute("SELECT value FROM kv WHERE name = %s", (name,))
        return str(rows[0][0]) if rows else None

    async def put(self, name: str, value: str | None) -> None:
        if value is None:
            await self._execute("DELETE FROM kv WHERE name = %s", (name,))
        else:
            await self._execute(
                "INSERT INTO kv (name, value) VALUES (%s, %s)"
                " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (name, value),
            )

    # -- outbox --------------------------------------------------------------------------------

    async def outbox_add(self, entry: OutboxEntry) -> None:
        await self._execute(
            "INSERT INTO outbox (key, lane, payload) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
            (entry.key, entry.lane, entry.payload),
        )

    async def outbox_pending(self) -> list[OutboxEntry]:
        rows = await self._execute("SELECT key, lane, payload FROM outbox ORDER BY seq")
        return [OutboxEntry(key=k, lane=n, payload=p) for k, n, p in rows]

    async def outbox_remove(self, key: str) -> None:
        await self._execute("DELETE FROM outbox WHERE key = %s", (key,))

    async def outbox_claim(
        self, worker: str, *, limit: int, lease: float, prefixes: Collection[str] = ()
    ) -> list[OutboxEntry]:
        rows = await self._execute(
            _CLAIM, {"worker": worker, "limit": limit, "lease": lease, "prefixes": list(prefixes)}
        )
        return [
            OutboxEntry(key=k, lane=n, payload=p, taken_over=bool(t))
            for _, k, n, p, t in sorted(rows)
        ]

    async def outbox_renew(self, worker: str, lease: float) -> None:
        await self._execute(
            "UPDATE outbox SET claimed_until = now() + make_interval(secs => %s)"
            " WHERE claimed_by = %s",
            (lease, worker),
        )

    async def outbox_release(self, worker: str, keys: Collection[str]) -> None:
        if keys:
            await self._execute(
                "UPDATE outbox SET claimed_by = NULL, claimed_until = NULL"
                " WHERE claimed_by = %s AND key = ANY(%s)",
                (worker, list(keys)),
            )

    async def outbox_size(self) -> int:
        rows = await self._execute("SELECT count(*) FROM outbox")
        return int(rows[0][0])

    async def lease(self, name: str, holder: str, ttl: float) -> bool:
        return bool(await self._execute(_LEASE, (name, holder, ttl)))

    async def lease_release(self, name: str, holder: str) -> None:
        await self._execute("DELETE FROM leases WHERE name = %s AND holder = %s", (name, holder))

    # -- relay id map ----------------------------------------------------------------------------

    async def relay_record(self, relay: str, origin: MessageRef, copy: MessageRef) -> None:
        await self._execute(
            "INSERT INTO copies VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s) ON CONFLICT DO NOTHING",
            (relay, *_row(origin), *_row(copy)),
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
            f"WHERE relay = %s AND {have}_conversation = %s AND {have}_id = %s"
        )
        rows = await self._execute(sql, (relay, conversation, mid))
        if not rows:
            return None
        row = rows[0]
        return MessageRef(
            conversation=Address.parse(row[0]),
            id=row[1],
            sender=Address.parse(row[2]),
            timestamp=datetime.fromisoformat(row[3]),
        )


async def _upgrade(conn: AsyncConnection[Any], retention: float) -> None:
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_UPGRADE_LOCK,))
        await conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        cursor = await conn.execute("SELECT max(version) FROM schema_version")
        row = await cursor.fetchone()
        version = int(row[0]) if row and row[0] is not None else 0
        if version > SCHEMA_VERSION:
            raise StoreVersionError(
                f"the store was written by a newer unimsg (schema {version}, this one "
                f"knows up to {SCHEMA_VERSION}); upgrade unimsg or use another store"
            )
        for migration in MIGRATIONS[version:]:
            await conn.execute(migration.encode())
        if version < SCHEMA_VERSION:
            await conn.execute("DELETE FROM schema_version")
            await conn.execute("INSERT INTO schema_version VALUES (%s)", (SCHEMA_VERSION,))
        await conn.execute(
            "DELETE FROM seen WHERE at < now() - make_interval(secs => %s)", (retention,)
        )


def _connect_error(url: str, exc: Exception) -> UnimsgError:
    text = _first_line(exc)
    if "password authentication failed" in text:
        return AuthenticationError(f"the store {redact(url)} refused the password: {text}")
    if "no password supplied" in text:
        return AuthenticationError(
            f"the store {redact(url)} asks for a password: name its variable with "
            "store_password_env, or set PGPASSWORD"
        )
    if "does not exist" in text:
        return ConnectError(f"the store {redact(url)}: {text}")
    return ConnectError(f"cannot reach the store {redact(url)}: {text}")


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _row(ref: MessageRef) -> tuple[str, str, str, str]:
    return str(ref.conversation), ref.id, str(ref.sender), ref.timestamp.isoformat()
