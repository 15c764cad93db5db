"""The shared `Store`: PostgreSQL, for several processes on several hosts.

It runs on psycopg 3 and its async pool (docs/decisions/0014 has the
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
    UnimsgError,
)
from ._postgres_schema import CLAIM, LEASE, SCHEMA_VERSION, upgrade
from ._records import LeaseInfo, OutboxEntry
from ._types import MessageRef

if TYPE_CHECKING:
    from psycopg import AsyncConnection
    from psycopg_pool import AsyncConnectionPool

__all__ = ["SCHEMA_VERSION", "PostgresStore"]

log = logging.getLogger("unimsg.store")
T = TypeVar("T")


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
            await upgrade(conn, self.retention)
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
            CLAIM, {"worker": worker, "limit": limit, "lease": lease, "prefixes": list(prefixes)}
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
        return bool(await self._execute(LEASE, (name, holder, ttl)))

    async def leases(self) -> list[LeaseInfo]:
        rows = await self._execute(
            "SELECT name, holder, extract(epoch FROM now() - since),"
            " extract(epoch FROM until - now()) FROM leases WHERE until > now() ORDER BY name"
        )
        return [
            LeaseInfo(name=n, holder=h, age=float(age), left=float(left))
            for n, h, age, left in rows
        ]

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
