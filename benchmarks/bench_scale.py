"""Scale: many conversations and events on the fake network; many rooms on Synapse.

    python benchmarks/bench_scale.py [--sizes 1000,3000,10000] [--events 10000,30000,100000]
                                     [--rooms 100,300,1000] [--json FILE]

Fake network, for each size: time and memory (tracemalloc peak) to create N
conversations and list them, and to deliver M events through
``Client.events()``. Costs should grow linearly: the per-item figures
printed should stay flat.

Matrix (relaxed Synapse; skipped when it is not running): one account joined
to N rooms, built once per run with raw HTTP and grown from size to size
(room creation is Synapse's slowest request). For each size, in a fresh
process each: the first sync of a new device with an empty store, as raw
matrix-nio (``sync(full_state=True)`` with the timeline limit unimsg uses)
and as unimsg (``Client.__aenter__``, which runs that sync), with the time
and the growth of the process's resident memory over it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table, write

import unimsg
from unimsg.testing import FakeNetwork


async def conversations(count: int) -> tuple[float, float]:
    net = FakeNetwork()
    me = net.adapter("matrix", "matrix:@me:fake.test")
    tracemalloc.start()
    start = time.perf_counter()
    for i in range(count):
        net.create_room("matrix", creator=me.account, name=f"room {i}")
    async with unimsg.Client(me) as client:
        listed = await client.conversations()
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(listed) == count
    return elapsed, peak


async def events(count: int) -> tuple[float, float]:
    net = FakeNetwork()
    a = net.adapter("signal", "signal:+15550000001")
    b = net.adapter("signal", "signal:+15550000002")
    tracemalloc.start()
    start = time.perf_counter()
    async with unimsg.Client(a) as ca, unimsg.Client(b) as cb, anyio.create_task_group() as tg:

        async def produce() -> None:
            for i in range(count):
                await ca.send(b.account, f"m{i}")

        tg.start_soon(produce)
        seen = 0
        async for event in cb.events():
            if isinstance(event, unimsg.MessageReceived):
                seen += 1
                if seen == count:
                    break
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return elapsed, peak


def rss_bytes() -> int:
    """Resident memory now (not the peak: a sync's growth is what is measured)."""
    import os

    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def matrix_first_sync(job: dict[str, Any]) -> dict[str, float]:
    """Run in a worker: one client's first sync, time and resident-memory growth."""
    import nio
    from unimsg_matrix import MatrixAdapter

    user, store = job["user"], Path(job["store"])
    before = rss_bytes()
    start = time.perf_counter()
    if job["client"] == "nio":
        config = nio.AsyncClientConfig(store_sync_tokens=False, encryption_enabled=True)
        client = nio.AsyncClient(job["url"], user["user_id"], store_path=str(store), config=config)
        client.restore_login(user["user_id"], user["device_id"], user["access_token"])
        try:
            # unimsg's first sync asks for one timeline event per room; so does this one.
            response = await client.sync(
                timeout=0, full_state=True, sync_filter={"room": {"timeline": {"limit": 1}}}
            )
            assert isinstance(response, nio.SyncResponse), response
            rooms = len(client.rooms)
        finally:
            await client.close()
    else:
        adapter = MatrixAdapter(
            homeserver=job["url"],
            user_id=user["user_id"],
            access_token=user["access_token"],
            device_id=user["device_id"],
            store_path=store,
            # Compared with raw matrix-nio, which has no cross-signing: like for like.
            cross_signing=False,
        )
        async with unimsg.Client(adapter) as client:
            seconds, grown = time.perf_counter() - start, rss_bytes() - before
            rooms = len(await client.conversations())
        assert rooms >= job["rooms"], (rooms, job["rooms"])
        return {"seconds": seconds, "rss_growth_bytes": grown}
    seconds = time.perf_counter() - start
    assert rooms >= job["rooms"], (rooms, job["rooms"])
    return {"seconds": seconds, "rss_growth_bytes": rss_bytes() - before}


def matrix_scale(sizes: list[int]) -> list[dict[str, Any]] | str:
    from _synapse import Http, instance, login, register

    server = instance("relaxed")
    if server is None:
        return "Synapse (relaxed profile) is not running"
    user = register(server, "scale")
    rows: list[dict[str, Any]] = []
    built = 0
    with Http(server["url"], user) as http, tempfile.TemporaryDirectory() as tmp:
        for size in sorted(sizes):
            create = time.perf_counter()
            for i in range(built, size):
                http.create_room(name=f"scale {i}")
            made = size - built
            built = size
            row: dict[str, Any] = {"n": size}
            if made:
                row["create_rooms_per_s"] = made / (time.perf_counter() - create)
            for client in ("nio", "unimsg"):
                device = login(server, user, f"bench-scale-{client}")
                store = Path(tmp) / f"{client}-{size}"
                job = {"client": client, "user": device, "url": server["url"]}
                job |= {"store": str(store), "rooms": size}
                done = subprocess.run(
                    [sys.executable, __file__, "--worker", json.dumps(job)],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                if done.returncode:
                    raise RuntimeError(f"scale worker failed:\n{done.stderr[-3000:]}")
                row[client] = json.loads(done.stdout.strip().splitlines()[-1])
            rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,3000,10000")
    parser.add_argument("--events", default="10000,30000,100000")
    parser.add_argument("--rooms", default="100,300,1000", help="Matrix room counts; '' skips")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        job = json.loads(args.worker)
        Path(job["store"]).mkdir(parents=True)
        print(json.dumps(anyio.run(matrix_first_sync, job)))
        return
    rows = []
    result: dict[str, Any] = {"conversations": [], "events": []}
    for n in map(int, args.sizes.split(",")):
        t, peak = anyio.run(conversations, n)
        result["conversations"].append({"n": n, "seconds": t, "peak_bytes": peak})
        rows.append((f"{n} conversations", t, peak / 2**20, t / n * 1e6, peak / n))
    for n in map(int, args.events.split(",")):
        t, peak = anyio.run(events, n)
        result["events"].append({"n": n, "seconds": t, "peak_bytes": peak})
        rows.append((f"{n} events", t, peak / 2**20, t / n * 1e6, peak / n))
    table(
        "fake network scale (tracemalloc on: times are inflated, compare ratios)",
        rows,
        ["what", "seconds", "peak MiB", "us/item", "bytes/item"],
    )
    if args.rooms:
        matrix = matrix_scale([int(n) for n in args.rooms.split(",")])
        if isinstance(matrix, str):
            print(f"  (Matrix rooms skipped: {matrix})")
            result["matrix_skipped"] = matrix
        else:
            result["matrix_rooms"] = matrix
            table(
                "Matrix account in N rooms on Synapse: first sync of a new device",
                [
                    (
                        f"{row['n']} rooms, {client}",
                        row[client]["seconds"],
                        row[client]["rss_growth_bytes"] / 2**20,
                        row[client]["seconds"] / row["n"] * 1e3,
                        row[client]["rss_growth_bytes"] / row["n"] / 1024,
                    )
                    for row in matrix
                    for client in ("nio", "unimsg")
                ],
                ["what", "seconds", "RSS growth MiB", "ms/room", "KiB/room"],
            )
    write("scale", result, args.json)


if __name__ == "__main__":
    main()
