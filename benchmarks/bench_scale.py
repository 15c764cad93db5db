"""Scale on the fake network: conversations and delivered events.

    python benchmarks/bench_scale.py [--sizes 1000,3000,10000] [--events 10000,30000,100000]

For each size: time and memory (tracemalloc peak) to create N conversations
and list them, and to deliver M events through ``Client.events()``. Costs
should grow linearly: the per-item figures printed should stay flat.
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,3000,10000")
    parser.add_argument("--events", default="10000,30000,100000")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = []
    result: dict[str, list[dict[str, float]]] = {"conversations": [], "events": []}
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
    write("scale", result, args.json)


if __name__ == "__main__":
    main()
