"""Several processes on one store: outbox throughput by worker count, reader fail-over time.

    python3 scripts/postgres.py start --name bench
    .venv/bin/python benchmarks/bench_shared.py [--messages 2000] [--lanes 50] [--kills 20]

Throughput: MESSAGES sends over LANES conversations are queued, then 1, 2 and 4
worker processes on one PostgreSQL store drain them to the in-memory fake
network (each process has its own, so the figure is the store's claiming and
bookkeeping, not a network's speed), against one process on an SQLite file.
Fail-over: two processes compete for one reader lease; the active one is
SIGKILLed KILLS times, and the time until the standby holds the lease is
recorded (the lease is LEASE seconds; the bound is LEASE plus a quarter).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
from _common import median, percentile, table, write

ROOT = Path(__file__).resolve().parent.parent
ME = "signal:+15550000001"


def _peer(i: int) -> str:
    return f"signal:+1555100{i:04d}"


def _store(target: str) -> object:
    from unimsg import PostgresStore, SqliteStore

    if target.startswith("postgresql://"):
        return PostgresStore(target)
    return SqliteStore(target)


async def _fill(target: str, messages: int, lanes: int) -> None:
    from unimsg import Client
    from unimsg.testing import FakeNetwork

    net = FakeNetwork()
    client = Client(net.adapter("signal", ME), store=_store(target))  # type: ignore[arg-type]
    client.outbox.concurrency = 0  # only queues: the workers send
    async with client:
        for i in range(messages):
            await client.enqueue(_peer(i % lanes), f"m{i}")


async def _send_worker(target: str, lanes: int) -> None:
    from unimsg import Client
    from unimsg.testing import FakeNetwork

    net = FakeNetwork()
    for i in range(lanes):
        net.adapter("signal", _peer(i))
    client = Client(net.adapter("signal", ME), store=_store(target))  # type: ignore[arg-type]
    client.outbox.poll_interval = 0.05
    print("ready", flush=True)
    await anyio.to_thread.run_sync(sys.stdin.readline)
    async with client:
        await anyio.sleep_forever()


async def _read_worker(target: str, lease: float) -> None:
    from unimsg import Client
    from unimsg.testing import FakeNetwork

    client = Client(FakeNetwork().adapter("signal", ME), store=_store(target), reader_lease=lease)  # type: ignore[arg-type]
    async with client:
        print("active", flush=True)
        await anyio.sleep_forever()


def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, __file__, "--worker", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


async def _size(target: str) -> int:
    store = _store(target)
    await store.open()  # type: ignore[attr-defined]
    try:
        return int(await store.outbox_size())  # type: ignore[attr-defined]
    finally:
        await store.close()  # type: ignore[attr-defined]


def _reset(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


def throughput(target: str, workers: int, messages: int, lanes: int) -> float:
    asyncio.run(_fill(target, messages, lanes))
    procs = [_spawn("send", target, str(lanes)) for _ in range(workers)]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    started = time.perf_counter()
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    while asyncio.run(_size(target)):
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    for p in procs:
        p.kill()
        p.wait()
    return messages / elapsed


def failover(url: str, kills: int, lease: float) -> list[float]:
    times: list[float] = []
    active = _spawn("read", url, str(lease))
    assert active.stdout is not None and active.stdout.readline().strip() == "active"
    for _ in range(kills):
        standby = _spawn("read", url, str(lease))
        time.sleep(lease / 2)  # the standby is up and polling
        active.kill()
        killed = time.perf_counter()
        assert standby.stdout is not None and standby.stdout.readline().strip() == "active"
        times.append(time.perf_counter() - killed)
        active.wait()
        active = standby
    active.kill()
    active.wait()
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", default="bench")
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--lanes", type=int, default=50)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--lease", type=float, default=2.0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    info = json.loads((ROOT / ".postgres" / args.name / "instance.json").read_text())
    os.environ["PGPASSWORD"] = Path(info["password_file"]).read_text().strip()
    url = info["url"]
    rows = []
    result: dict[str, object] = {"messages": args.messages, "lanes": args.lanes}
    with tempfile.TemporaryDirectory() as tmp:
        rate = throughput(str(Path(tmp) / "s.db"), 1, args.messages, args.lanes)
    rows.append(["SQLite", 1, rate])
    result["sqlite_1"] = rate
    for workers in (1, 2, 4):
        _reset(url)
        rate = throughput(url, workers, args.messages, args.lanes)
        rows.append(["PostgreSQL", workers, rate])
        result[f"postgres_{workers}"] = rate
    table("outbox throughput (fake network)", rows, ["store", "workers", "sends/s"])
    _reset(url)
    times = failover(url, args.kills, args.lease)
    result["failover"] = {"lease": args.lease, "seconds": times}
    table(
        f"reader fail-over, lease {args.lease:g} s, {len(times)} kills",
        [[median(times), percentile(times, 0.9), max(times)]],
        ["median s", "p90 s", "max s"],
    )
    write("shared", result, args.out)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        role, target, extra = sys.argv[2:5]
        if role == "send":
            anyio.run(_send_worker, target, int(extra), backend="asyncio")
        else:
            anyio.run(_read_worker, target, float(extra), backend="asyncio")
    else:
        main()
