"""Fake network throughput and dispatch latency.

    python benchmarks/bench_fake.py [--messages N] [--repeat R] [--json FILE]

Measures, in one process on one core: messages per second from
``Client.send`` to the receiver's ``events()``, and the latency from send to
receipt (p50/p95/p99). Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import anyio

import unimsg
from unimsg.testing import FakeNetwork


async def throughput(messages: int) -> float:
    net = FakeNetwork()
    a = net.adapter("signal", "signal:+15550000001")
    b = net.adapter("signal", "signal:+15550000002")
    async with unimsg.Client(a) as ca, unimsg.Client(b, event_buffer=messages + 1) as cb:
        start = time.perf_counter()
        received = 0

        async def consume() -> None:
            nonlocal received
            async for event in cb.events():
                if isinstance(event, unimsg.MessageReceived):
                    received += 1
                    if received == messages:
                        return

        async with anyio.create_task_group() as tg:
            tg.start_soon(consume)
            for i in range(messages):
                await ca.send(b.account, f"m{i}")
        elapsed = time.perf_counter() - start
    return messages / elapsed


async def latency(messages: int) -> list[float]:
    net = FakeNetwork()
    a = net.adapter("matrix", "matrix:@a:fake.test")
    b = net.adapter("matrix", "matrix:@b:fake.test")
    samples: list[float] = []
    async with unimsg.Client(a) as ca, unimsg.Client(b) as cb:
        events = cb.events()
        for i in range(messages):
            start = time.perf_counter()
            await ca.send(b.account, f"m{i}")
            while not isinstance(await anext(events), unimsg.MessageReceived):
                pass
            samples.append(time.perf_counter() - start)
    return samples


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/fake.json"))
    args = parser.parse_args()
    rates = [anyio.run(throughput, args.messages) for _ in range(args.repeat)]
    lat = anyio.run(latency, min(args.messages, 5_000))
    result = {
        "messages": args.messages,
        "throughput_msgs_per_s": statistics.median(rates),
        "throughput_runs": rates,
        "latency_ms": {
            "p50": percentile(lat, 0.50) * 1e3,
            "p95": percentile(lat, 0.95) * 1e3,
            "p99": percentile(lat, 0.99) * 1e3,
        },
    }
    print(f"fake network, {args.messages} messages, median of {args.repeat}")
    print(f"  throughput  {result['throughput_msgs_per_s']:>10,.0f} msg/s")
    for key, value in result["latency_ms"].items():
        print(f"  latency {key} {value:>8.3f} ms")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
