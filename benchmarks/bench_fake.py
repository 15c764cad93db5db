"""Fake network throughput and dispatch latency.

    python benchmarks/bench_fake.py [--messages N] [--repeat R] [--json FILE]

Measures, in one process on one core: messages per second from
``Client.send`` to the receiver's ``events()``, and the latency from send to
receipt (p50/p95/p99). For scale, the same count of items through a bare
anyio memory object stream between two tasks: the floor of any design that
hands messages from one task to another. Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median, percentile, table, write

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


async def raw_stream(messages: int) -> float:
    send, receive = anyio.create_memory_object_stream[str](messages + 1)
    start = time.perf_counter()

    async def consume() -> None:
        async with receive:
            for _ in range(messages):
                await receive.receive()

    async with anyio.create_task_group() as tg:
        tg.start_soon(consume)
        async with send:
            for i in range(messages):
                await send.send(f"m{i}")
    return messages / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rates, raw = [], []
    for _ in range(args.repeat):
        rates.append(anyio.run(throughput, args.messages))
        raw.append(anyio.run(raw_stream, args.messages))
    lat = anyio.run(latency, min(args.messages, 5_000))
    result = {
        "messages": args.messages,
        "repeat": args.repeat,
        "throughput_msgs_per_s": median(rates),
        "throughput_runs": rates,
        "raw_stream_msgs_per_s": median(raw),
        "latency_ms": {
            "p50": percentile(lat, 0.50) * 1e3,
            "p95": percentile(lat, 0.95) * 1e3,
            "p99": percentile(lat, 0.99) * 1e3,
        },
    }
    table(
        f"fake network, {args.messages} messages, median of {args.repeat}",
        [
            ("unimsg send -> events(), msg/s", result["throughput_msgs_per_s"]),
            ("bare anyio memory stream, items/s", result["raw_stream_msgs_per_s"]),
            *[(f"latency {k}, ms", v) for k, v in result["latency_ms"].items()],
        ],
        ["what", "value"],
    )
    write("fake", result, args.json)


if __name__ == "__main__":
    main()
