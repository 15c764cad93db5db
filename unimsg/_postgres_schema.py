"""The PostgreSQL store's schema: versioned migrations and the statements that share work.

The versions are the SQLite store's: 1 the first release's tables, 2 the
claims on queued sends and the leases. Time comes from the server
(``now()``), so claims and leases mean the same on every host.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._exceptions import StoreVersionError

if TYPE_CHECKING:
    from psycopg import AsyncConnection

__all__ = ["CLAIM", "LEASE", "SCHEMA_VERSION", "upgrade"]

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
    CREATE TABLE leases (
        name TEXT PRIMARY KEY, holder TEXT NOT NULL,
        since TIMESTAMPTZ NOT NULL, until TIMESTAMPTZ NOT NULL
    );
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
#: Any constant: the advisory lock that serialises schema upgrades.
_UPGRADE_LOCK = 0x756E696D7367

CLAIM = """
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
LEASE = """
INSERT INTO leases (name, holder, since, until)
VALUES (%s, %s, now(), now() + make_interval(secs => %s))
ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until,
    since = CASE WHEN leases.holder = excluded.holder THEN leases.since ELSE excluded.since END
WHERE leases.holder = excluded.holder OR leases.until < now()
RETURNING 1
"""


async def upgrade(conn: AsyncConnection[Any], retention: float) -> None:
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
