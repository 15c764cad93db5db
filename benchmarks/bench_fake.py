"""Fake network throughput and dispatch latency.

    python benchmarks/bench_fake.py [--messages N] [--repeat R] [--profile FILE] [--json FILE]

Measures, in one process on one core: messages per second from
``Client.send`` to the receiver's ``events()``, and the latency from send to
receipt (p50/p95/p99). For scale, the same count of items through a bare
anyio memory object stream between two tasks: the floor of any design that
hands messages from one task to another. Prints a table and writes JSON.

The ``store`` section repeats the throughput run with the receiver keeping
its state in an SQLite file, where every event is looked up and every
acknowledgement written: as shipped (calls in a worker thread, look-ups
batched over the waiting events), without the batching, and with every call
blocking the event loop instead; read by an ``events()`` loop and by a
``Bot`` (whose concurrent acknowledgements share a transaction).
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median, percentile, table, write

import unimsg
import unimsg._consumer
from unimsg.testing import FakeNetwork

T = TypeVar("T")


class InlineSqliteStore(unimsg.SqliteStore):
    """The alternative not taken: every SQLite call blocks the event loop."""

    async def _call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        assert self._db is not None
        return work(self._db)


async def throughput(
    messages: int, store: unimsg.Store | None = None, reader: str = "events"
) -> tuple[float, float]:
    """Messages per second of wall time and per second of this process's CPU time."""
    net = FakeNetwork()
    a = net.adapter("signal", "signal:+15550000001")
    b = net.adapter("signal", "signal:+15550000002")
    async with (
        unimsg.Client(a) as ca,
        unimsg.Client(b, event_buffer=messages + 1, store=store) as cb,
    ):
        start, cpu = time.perf_counter(), time.process_time()
        received = 0
        done = anyio.Event()

        async def consume() -> None:
            nonlocal received
            async for event in cb.events():
                if isinstance(event, unimsg.MessageReceived):
                    received += 1
                    if received == messages:
                        return

        bot = unimsg.Bot(cb)

        @bot.on(unimsg.MessageReceived)
        async def count(ctx: Any) -> None:
            nonlocal received
            received += 1
            if received == messages:
                done.set()

        async with anyio.create_task_group() as tg:
            if reader == "events":
                tg.start_soon(consume)
            else:
                await tg.start(bot.run)
            for i in range(messages):
                await ca.send(b.account, f"m{i}")
            if reader == "bot":
                await done.wait()
                bot.stop()
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    return messages / elapsed, messages / cpu


def store_variants(messages: int, repeat: int) -> dict[str, float]:
    """Median msg/s per way of keeping the receiver's state."""
    runs: dict[str, list[float]] = {}
    shipped_batch = unimsg._consumer.BATCH
    for _ in range(repeat):
        for reader in ("events", "bot"):
            runs.setdefault(f"{reader}, memory store", []).append(
                anyio.run(throughput, messages, None, reader)[0]
            )
            for label, kind, batch in (
                ("sqlite, worker thread, batched look-ups (shipped)", unimsg.SqliteStore, True),
                ("sqlite, worker thread, one look-up per event", unimsg.SqliteStore, False),
                ("sqlite, blocking the event loop", InlineSqliteStore, True),
            ):
                unimsg._consumer.BATCH = shipped_batch if batch else 1
                with tempfile.TemporaryDirectory(prefix="unimsg-bench-") as tmp:
                    store = kind(Path(tmp) / "state.db")
                    rate = anyio.run(throughput, messages, store, reader)[0]
                runs.setdefault(f"{reader}, {label}", []).append(rate)
    unimsg._consumer.BATCH = shipped_batch
    return {name: median(rates) for name, rates in runs.items()}


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


async def raw_stream(messages: int) -> tuple[float, float]:
    send, receive = anyio.create_memory_object_stream[str](messages + 1)
    start, cpu = time.perf_counter(), time.process_time()

    async def consume() -> None:
        async with receive:
            for _ in range(messages):
                await receive.receive()

    async with anyio.create_task_group() as tg:
        tg.start_soon(consume)
        async with send:
            for i in range(messages):
                await send.send(f"m{i}")
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    return messages / elapsed, messages / cpu


def profile(messages: int, path: Path) -> None:
    """cProfile of one throughput run on the CPU clock, written to ``path``."""
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    anyio.run(throughput, messages)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(40)
    text = out.getvalue().replace(str(Path(anyio.__file__).parent.parent) + "/", "")
    text = text.replace(str(Path(__file__).resolve().parent.parent) + "/", "")
    header = f"{messages:,} messages, Client.send -> events(), cProfile on the CPU clock\n"
    path.write_text(header + text)
    print(f"  profile: {path}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--profile", type=Path, help="also write a CPU profile of 5,000 messages")
    args = parser.parse_args()
    rates, raw, cpu_rates, cpu_raw = [], [], [], []
    for _ in range(args.repeat):
        rate, cpu_rate = anyio.run(throughput, args.messages)
        rates.append(rate)
        cpu_rates.append(cpu_rate)
        rate, cpu_rate = anyio.run(raw_stream, args.messages)
        raw.append(rate)
        cpu_raw.append(cpu_rate)
    lat = anyio.run(latency, min(args.messages, 5_000))
    stores = store_variants(min(args.messages, 5_000), args.repeat)
    result = {
        "messages": args.messages,
        "repeat": args.repeat,
        "throughput_msgs_per_s": median(rates),
        "throughput_runs": rates,
        "raw_stream_msgs_per_s": median(raw),
        # Per second of CPU time: what the rate is on an idle core, whatever else
        # the machine runs (both sides run in this one process, without I/O).
        "throughput_msgs_per_cpu_s": median(cpu_rates),
        "raw_stream_msgs_per_cpu_s": median(cpu_raw),
        "cpu_ratio_runs": [a / b for a, b in zip(cpu_rates, cpu_raw, strict=True)],
        "latency_ms": {
            "p50": percentile(lat, 0.50) * 1e3,
            "p95": percentile(lat, 0.95) * 1e3,
            "p99": percentile(lat, 0.99) * 1e3,
        },
        "store_messages": min(args.messages, 5_000),
        "store_msgs_per_s": stores,
    }
    table(
        f"fake network, {args.messages} messages, median of {args.repeat}",
        [
            ("unimsg send -> events(), msg/s", result["throughput_msgs_per_s"]),
            ("bare anyio memory stream, items/s", result["raw_stream_msgs_per_s"]),
            ("unimsg, msg per CPU second", result["throughput_msgs_per_cpu_s"]),
            ("bare stream, items per CPU second", result["raw_stream_msgs_per_cpu_s"]),
            *[(f"latency {k}, ms", v) for k, v in result["latency_ms"].items()],
        ],
        ["what", "value"],
    )
    table(
        f"receiver state, {result['store_messages']} messages, msg/s, median of {args.repeat}",
        list(stores.items()),
        ["reader, store", "msg/s"],
    )
    write("fake", result, args.json)
    if args.profile is not None:
        profile(min(args.messages, 5_000), args.profile)


if __name__ == "__main__":
    main()
