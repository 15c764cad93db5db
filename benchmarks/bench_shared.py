"""Several processes on one store: outbox throughput by worker count, reader fail-over time.

    python3 scripts/postgres.py start --name bench
    .venv/bin/python benchmarks/bench_shared.py [--messages 2000] [--lanes 50] [--kills 20]
        [--matrix-messages 600] [--rooms 10] [--faults]

Throughput: MESSAGES sends over LANES conversations are queued, then 1, 2 and 4
worker processes on one PostgreSQL store drain them to the in-memory fake
network (each process has its own, so the figure is the store's claiming and
bookkeeping, not a network's speed), against one process on an SQLite file.
The same with MATRIX_MESSAGES sends over ROOMS rooms of the relaxed Synapse
(skipped when it is not running): every worker is the same device, started
from a copy of its state.
Fail-over: two processes compete for one reader lease; the active one is
SIGKILLed KILLS times, and the time until the standby holds the lease is
recorded (the lease is LEASE seconds; the bound is LEASE plus a quarter).
``--faults`` also runs tests/faults/test_shared_store.py at the issue's full
sizes (3,000 sends to Synapse and to the Signal emulator, 500 incoming
messages) and keeps its figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
from _common import median, percentile, table, write
from _synapse import Http, instance, register

ROOT = Path(__file__).resolve().parent.parent
ME = "signal:+15550000001"


def _peer(i: int) -> str:
    return f"signal:+1555100{i:04d}"


def _store(target: str) -> object:
    from unimsg import PostgresStore, SqliteStore

    if target.startswith("postgresql://"):
        return PostgresStore(target)
    return SqliteStore(target)


async def _fill(target: str, messages: int, spec: dict[str, object]) -> None:
    from unimsg import Client
    from unimsg.testing import FakeNetwork

    # The same adapter name as the workers' (network and account): their claims match.
    net = FakeNetwork()
    if spec["kind"] == "matrix":
        adapter = net.adapter("matrix", f"matrix:{spec['user_id']}")
        targets = [f"matrix:{room}" for room in spec["rooms"]]  # type: ignore[attr-defined]
    else:
        adapter = net.adapter("signal", ME)
        targets = [_peer(i) for i in range(int(spec["lanes"]))]  # type: ignore[call-overload]
    client = Client(adapter, store=_store(target))  # type: ignore[arg-type]
    client.outbox.concurrency = 0  # only queues: the workers send
    async with client:
        for i in range(messages):
            await client.enqueue(targets[i % len(targets)], f"m{i}")


def _sender(spec: dict[str, object]) -> object:
    if spec["kind"] == "matrix":
        from unimsg_matrix import MatrixAdapter

        return MatrixAdapter(
            homeserver=spec["url"],  # type: ignore[arg-type]
            user_id=spec["user_id"],  # type: ignore[arg-type]
            access_token=spec["access_token"],  # type: ignore[arg-type]
            device_id=spec["device_id"],  # type: ignore[arg-type]
            store_path=spec["store_path"],  # type: ignore[arg-type]
            cross_signing=False,  # one device in several processes, sending only
        )
    from unimsg.testing import FakeNetwork

    net = FakeNetwork()
    for i in range(int(spec["lanes"])):  # type: ignore[call-overload]
        net.adapter("signal", _peer(i))
    return net.adapter("signal", ME)


async def _send_worker(target: str, spec: dict[str, object]) -> None:
    from unimsg import Client

    client = Client(_sender(spec), store=_store(target))  # type: ignore[arg-type]
    client.outbox.poll_interval = 0.05
    sending = client.outbox.concurrency
    client.outbox.concurrency = 0  # started, but claiming nothing until "go"
    async with client:
        print("ready", flush=True)
        await anyio.to_thread.run_sync(sys.stdin.readline)
        client.outbox.concurrency = sending
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
    if not target.startswith("postgresql://"):
        import sqlite3

        # Read directly: opening an SqliteStore declares the file's claims dead.
        with contextlib.closing(sqlite3.connect(target)) as db:
            return int(db.execute("SELECT count(*) FROM outbox").fetchone()[0])
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


def throughput(target: str, workers: int, messages: int, spec: dict[str, object]) -> float:
    asyncio.run(_fill(target, messages, spec))
    procs = []
    for _ in range(workers):
        if spec["kind"] == "matrix":
            # One device, a copy of its state for each process.
            state = Path(str(spec["setup"])).with_name(f"worker-{time.monotonic_ns()}")
            shutil.copytree(str(spec["setup"]), state)
            procs.append(_spawn("send", target, json.dumps({**spec, "store_path": str(state)})))
        else:
            procs.append(_spawn("send", target, json.dumps(spec)))
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


def matrix_spec(tmp: Path, rooms: int) -> dict[str, object] | None:
    """A fresh Synapse user with ROOMS rooms and a device state to copy, or None."""
    server = instance("relaxed")
    if server is None:
        return None
    user = register(server, "shared")
    with Http(server["url"], user) as http:
        ids = [http.create_room(name=f"bench {i}") for i in range(rooms)]
    spec: dict[str, object] = {
        "kind": "matrix",
        "url": server["url"],
        "user_id": user["user_id"],
        "access_token": user["access_token"],
        "device_id": user["device_id"],
        "rooms": ids,
        "setup": str(tmp / "setup"),
    }

    async def setup() -> None:
        from unimsg import Client

        async with Client(_sender({**spec, "store_path": spec["setup"]})):  # type: ignore[arg-type]
            pass  # uploads the device's keys once; the workers start from copies

    asyncio.run(setup())
    return spec


def rates(url: str, tmp: Path, messages: int, spec: dict[str, object]) -> dict[str, float]:
    result = {"sqlite_1": throughput(str(tmp / f"{spec['kind']}.db"), 1, messages, spec)}
    for workers in (1, 2, 4):
        _reset(url)
        result[f"postgres_{workers}"] = throughput(url, workers, messages, spec)
    return result


def faults(url: str) -> list[dict[str, object]]:
    """tests/faults/test_shared_store.py at the issue's sizes; its figures lines."""
    env = {**os.environ, "SHARED_MATRIX_SENDS": "3000", "SHARED_SIGNAL_SENDS": "3000"}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/faults/test_shared_store.py", "-q", "-s",
         "-p", "no:cacheprovider"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    print(run.stdout[-2000:])
    found = re.findall(r"^figures (\{.*\})$", run.stdout, re.MULTILINE)
    return [json.loads(line) for line in found]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", default="bench")
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--lanes", type=int, default=50)
    parser.add_argument("--matrix-messages", type=int, default=600)
    parser.add_argument("--rooms", type=int, default=10)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--lease", type=float, default=2.0)
    parser.add_argument("--faults", action="store_true")
    parser.add_argument(
        "--parts", default="fake,matrix,failover", help="which of fake, matrix, failover to run"
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    info = json.loads((ROOT / ".postgres" / args.name / "instance.json").read_text())
    os.environ["PGPASSWORD"] = Path(info["password_file"]).read_text().strip()
    url = info["url"]
    parts = set(args.parts.split(","))
    result: dict[str, object] = {"messages": args.messages, "lanes": args.lanes}
    labels = ["sqlite_1", "postgres_1", "postgres_2", "postgres_4"]
    header = ["store", "workers", "sends/s"]
    with tempfile.TemporaryDirectory() as tmp:
        if "fake" in parts:
            fake = rates(url, Path(tmp), args.messages, {"kind": "fake", "lanes": args.lanes})
            result.update(fake)
            rows = [[x.split("_")[0], int(x.split("_")[1]), fake[x]] for x in labels]
            table("outbox throughput (fake network)", rows, header)
        spec = matrix_spec(Path(tmp), args.rooms) if "matrix" in parts else None
        if spec is not None:
            matrix = rates(url, Path(tmp), args.matrix_messages, spec)
            result["matrix"] = {"messages": args.matrix_messages, "rooms": args.rooms, **matrix}
            rows = [[x.split("_")[0], int(x.split("_")[1]), matrix[x]] for x in labels]
            table(f"outbox throughput (Synapse, {args.rooms} rooms)", rows, header)
        elif "matrix" in parts:
            print("Synapse (relaxed) is not running: no Matrix throughput")
    if "failover" in parts:
        _reset(url)
        times = failover(url, args.kills, args.lease)
        result["failover"] = {"lease": args.lease, "seconds": times}
        table(
            f"reader fail-over, lease {args.lease:g} s, {len(times)} kills",
            [[median(times), percentile(times, 0.9), max(times)]],
            ["median s", "p90 s", "max s"],
        )
    if args.faults:
        result["faults"] = faults(url)
    write("shared", result, args.out)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        role, target, extra = sys.argv[2:5]
        if role == "send":
            anyio.run(_send_worker, target, json.loads(extra), backend="asyncio")
        else:
            anyio.run(_read_worker, target, float(extra), backend="asyncio")
    else:
        main()
