"""psycopg 3 (async, pooled) against asyncpg on the statements a `Store` issues most.

    python3 scripts/postgres.py start --name bench
    .venv/bin/python benchmarks/bench_pg_drivers.py --name bench

Per operation, the median of several rounds: a one-row insert (outbox add), a lookup
of 256 keys (one de-duplication batch), a 256-row insert in one transaction (remember)
and a claim (``SELECT ... FOR UPDATE SKIP LOCKED`` then ``UPDATE``, one transaction).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
N = 400
SETUP = """
DROP TABLE IF EXISTS bench_seen, bench_box;
CREATE TABLE bench_seen (key TEXT PRIMARY KEY, at DOUBLE PRECISION NOT NULL);
CREATE TABLE bench_box (seq BIGSERIAL PRIMARY KEY, key TEXT UNIQUE, payload TEXT,
    claimed_until DOUBLE PRECISION);
"""


async def timed(label: str, rounds: int, op: Callable[[int], Awaitable[object]]) -> float:
    samples = []
    for r in range(rounds):
        started = time.perf_counter()
        await op(r)
        samples.append((time.perf_counter() - started) * 1e6)
    median = statistics.median(samples)
    print(f"  {label:<28} {median:9.0f} us")
    return median


async def with_asyncpg(url: str, password: str) -> dict[str, float]:
    import asyncpg

    pool = await asyncpg.create_pool(url, password=password, min_size=2, max_size=2)
    await pool.execute(SETUP)
    keys = [f"k{i}" for i in range(256)]
    out: dict[str, float] = {}

    async def add(i: int) -> None:
        await pool.execute(
            "INSERT INTO bench_box (key, payload) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            f"a{i}",
            "x" * 200,
        )

    async def remember(i: int) -> None:
        async with pool.acquire() as c, c.transaction():
            await c.executemany(
                "INSERT INTO bench_seen VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET at = $2",
                [(f"{i}:{k}", 1.0) for k in keys],
            )

    async def seen(i: int) -> None:
        await pool.fetch(
            "SELECT key FROM bench_seen WHERE key = ANY($1)", [f"{i}:{k}" for k in keys]
        )

    async def claim(i: int) -> None:
        async with pool.acquire() as c, c.transaction():
            row = await c.fetchrow(
                "SELECT seq FROM bench_box WHERE claimed_until IS NULL ORDER BY seq"
                " LIMIT 1 FOR UPDATE SKIP LOCKED"
            )
            await c.execute("UPDATE bench_box SET claimed_until = 1 WHERE seq = $1", row["seq"])

    out["add"] = await timed("outbox add (1 row)", N, add)
    out["remember"] = await timed("remember 256 keys", 40, remember)
    out["seen"] = await timed("seen 256 keys", 100, seen)
    out["claim"] = await timed("claim one entry", N, claim)
    await pool.close()
    return out


async def with_psycopg(url: str, password: str) -> dict[str, float]:
    from psycopg_pool import AsyncConnectionPool

    pool = AsyncConnectionPool(
        url,
        kwargs={"password": password, "autocommit": True},
        min_size=2,
        max_size=2,
        open=False,
    )
    await pool.open()
    async with pool.connection() as c:
        await c.execute(SETUP)
    keys = [f"k{i}" for i in range(256)]
    out: dict[str, float] = {}

    async def add(i: int) -> None:
        async with pool.connection() as c:
            await c.execute(
                "INSERT INTO bench_box (key, payload) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                (f"a{i}", "x" * 200),
            )

    async def remember(i: int) -> None:
        async with pool.connection() as c, c.transaction(), c.cursor() as cur:
            await cur.executemany(
                "INSERT INTO bench_seen VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET at = %s",
                [(f"{i}:{k}", 1.0, 1.0) for k in keys],
            )

    async def seen(i: int) -> None:
        async with pool.connection() as c:
            cur = await c.execute(
                "SELECT key FROM bench_seen WHERE key = ANY(%s)", ([f"{i}:{k}" for k in keys],)
            )
            await cur.fetchall()

    async def claim(i: int) -> None:
        async with pool.connection() as c, c.transaction():
            cur = await c.execute(
                "SELECT seq FROM bench_box WHERE claimed_until IS NULL ORDER BY seq"
                " LIMIT 1 FOR UPDATE SKIP LOCKED"
            )
            row = await cur.fetchone()
            assert row is not None
            await c.execute("UPDATE bench_box SET claimed_until = 1 WHERE seq = %s", (row[0],))

    out["add"] = await timed("outbox add (1 row)", N, add)
    out["remember"] = await timed("remember 256 keys", 40, remember)
    out["seen"] = await timed("seen 256 keys", 100, seen)
    out["claim"] = await timed("claim one entry", N, claim)
    await pool.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", default="bench")
    args = parser.parse_args()
    info = json.loads((ROOT / ".cache" / "postgres" / args.name / "instance.json").read_text())
    password = Path(info["password_file"]).read_text().strip()
    print("asyncpg")
    a = asyncio.run(with_asyncpg(info["url"], password))
    print("psycopg 3 + psycopg_pool")
    p = asyncio.run(with_psycopg(info["url"], password))
    print(json.dumps({"asyncpg": a, "psycopg": p}))


if __name__ == "__main__":
    main()
