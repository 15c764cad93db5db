"""Signal: unimsg's adapter vs raw JSON-RPC loops vs pysignalclijsonrpc; emulator and real daemon.

    python benchmarks/bench_signal.py [--messages 1000] [--repeat 3] [--in-flight 16]
                                      [--real-calls 200] [--profile FILE] [--json FILE]

The signal-cli daemon emulator runs in its own process, so the figures are
what a client pays: messages per second sent (each answered by the daemon)
and the client's own CPU time per message. Only the sending is timed: the
client is connected and has sent a few warm-up messages first. Every
comparison is a ratio taken in the same run, with the cases interleaved
round by round. pysignalclijsonrpc only speaks HTTP and is synchronous.

Then the same on the real signal-cli daemon (``benchmarks/_signal_real.py``): round trips of a
method the daemon answers locally, through unimsg and through raw loops, over TCP and HTTP.
It needs ``python3 scripts/signal_cli.py install`` and is skipped (and says so) without it.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import http.client
import io
import json
import pstats
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median, table, write

SENDER, RECIPIENT = "+15550000001", "+15550000002"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def emulator() -> Iterator[tuple[int, int]]:
    tcp, http = free_port(), free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "unimsg_signal.emulator",
            "--account",
            SENDER,
            "--account",
            RECIPIENT,
            "--receive-mode",
            "manual",
            "--tcp",
            f"127.0.0.1:{tcp}",
            "--http",
            f"127.0.0.1:{http}",
        ],
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", tcp), timeout=0.2).close()
                socket.create_connection(("127.0.0.1", http), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield tcp, http
    finally:
        proc.terminate()
        proc.wait(10)


def _params(i: int) -> dict[str, Any]:
    return {"recipient": [RECIPIENT], "message": f"benchmark {i}"}


Measured = tuple[float, float]
WARM_UP = 50


async def timed(send: Callable[[int], Awaitable[None]], n: int, in_flight: int) -> Measured:
    """Messages per second and client CPU µs per message of ``n`` sends after a warm-up."""

    async def drive(numbers: range) -> None:
        counter = iter(numbers)

        async def lane() -> None:
            for i in counter:
                await send(i)

        async with anyio.create_task_group() as tg:
            for _ in range(in_flight):
                tg.start_soon(lane)

    # Through the same lanes, so that pools hold their connections before the clock starts.
    await drive(range(-WARM_UP, 0))
    wall, cpu = time.perf_counter(), time.process_time()
    if PROFILER is not None:
        PROFILER.enable()
    await drive(range(n))
    if PROFILER is not None:
        PROFILER.disable()
    return n / (time.perf_counter() - wall), (time.process_time() - cpu) / n * 1e6


#: Set by --profile: what `timed` profiles (the timed sends only, on the CPU clock).
PROFILER: cProfile.Profile | None = None


def profile_tcp(port: int, n: int, path: Path) -> None:
    """cProfile of ``n`` sequential unimsg sends over TCP, top functions by own time."""
    global PROFILER
    PROFILER = cProfile.Profile(time.process_time)
    anyio.run(unimsg_send, f"tcp://127.0.0.1:{port}", n, 1)
    out = io.StringIO()
    out.write(f"unimsg Client.send over TCP to the unpaced emulator, {n} sequential sends, ")
    out.write("cProfile on the CPU clock (the timed sends only)\n")
    stats = pstats.Stats(PROFILER, stream=out).strip_dirs()
    stats.sort_stats("tottime").print_stats(40)
    stats.sort_stats("cumulative").print_stats(40)
    PROFILER = None
    path.write_text(out.getvalue())
    print(f"  profile: {path}")


async def raw_tcp(port: int, n: int, _: int) -> Measured:
    """The leanest lock-step loop: plain asyncio streams, one line out, one line in."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:

        async def send(i: int) -> None:
            request = {"jsonrpc": "2.0", "id": i, "method": "send", "params": _params(i)}
            writer.write(json.dumps(request).encode() + b"\n")
            line = await reader.readline()
            assert b'"result"' in line, line

        return await timed(send, n, 1)
    finally:
        writer.close()


async def raw_http(port: int, n: int, in_flight: int) -> Measured:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:

        async def send(i: int) -> None:
            request = {"jsonrpc": "2.0", "id": i, "method": "send", "params": _params(i)}
            answer = await client.post("/api/v1/rpc", json=request)
            assert "result" in answer.json()

        return await timed(send, n, in_flight)


async def unimsg_send(url: str, n: int, in_flight: int) -> Measured:
    from unimsg_signal import SignalAdapter

    import unimsg

    adapter = SignalAdapter.create(SENDER, url)
    async with unimsg.Client(adapter) as client:

        async def send(i: int) -> None:
            await client.send(f"signal:{RECIPIENT}", f"benchmark {i}")

        return await timed(send, n, in_flight)


def pysignal(port: int, n: int) -> Measured:
    from pysignalclijsonrpc import SignalCliJSONRPCApi

    api = SignalCliJSONRPCApi(f"http://127.0.0.1:{port}/api/v1/rpc", account=SENDER)
    for i in range(WARM_UP):
        api.send_message(message=f"warm-up {i}", recipients=[RECIPIENT])
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(n):
        api.send_message(message=f"benchmark {i}", recipients=[RECIPIENT])
    return n / (time.perf_counter() - wall), (time.process_time() - cpu) / n * 1e6


def plain_http(port: int, n: int) -> Measured:
    """A plain keep-alive ``http.client`` loop: one connection, one request at a time."""
    connection = http.client.HTTPConnection("127.0.0.1", port)
    headers = {"Content-Type": "application/json"}

    def send(i: int) -> None:
        request = {"jsonrpc": "2.0", "id": i, "method": "send", "params": _params(i)}
        connection.request("POST", "/api/v1/rpc", json.dumps(request).encode(), headers)
        assert "result" in json.loads(connection.getresponse().read())

    try:
        for i in range(-WARM_UP, 0):
            send(i)
        wall, cpu = time.perf_counter(), time.process_time()
        for i in range(n):
            send(i)
        return n / (time.perf_counter() - wall), (time.process_time() - cpu) / n * 1e6
    finally:
        connection.close()


def async_runner(func: Callable[..., Awaitable[Measured]], *args: Any) -> Callable[[], Measured]:
    return lambda: anyio.run(func, *args)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--in-flight", type=int, default=16)
    parser.add_argument(
        "--real-calls", type=int, default=200, help="round trips per case, real daemon (0: skip)"
    )
    parser.add_argument("--profile", type=Path, help="also write a profile of unimsg over TCP")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    n, lanes = args.messages, args.in_flight
    runs: dict[str, list[Measured]] = {}
    with emulator() as (tcp, http):
        tcp_url, http_url = f"tcp://127.0.0.1:{tcp}", f"http://127.0.0.1:{http}"
        cases: dict[str, Callable[[], Measured]] = {
            "raw JSON-RPC loop, TCP": async_runner(raw_tcp, tcp, n, 1),
            "unimsg, TCP": async_runner(unimsg_send, tcp_url, n, 1),
            f"unimsg, TCP, {lanes} in flight": async_runner(unimsg_send, tcp_url, n, lanes),
            "raw JSON-RPC loop, HTTP": async_runner(raw_http, http, n, 1),
            "plain http.client loop, HTTP": lambda: plain_http(http, n),
            f"raw httpx, HTTP, {lanes} in flight": async_runner(raw_http, http, n, lanes),
            "unimsg, HTTP": async_runner(unimsg_send, http_url, n, 1),
            f"unimsg, HTTP, {lanes} in flight": async_runner(unimsg_send, http_url, n, lanes),
        }
        try:
            import pysignalclijsonrpc  # noqa: F401

            cases["pysignalclijsonrpc, HTTP"] = lambda: pysignal(http, n)
        except ImportError:
            print("  (pysignalclijsonrpc not installed: pip install pysignalclijsonrpc)")
        # Interleaved rounds: a burst of load on the machine hits every case, not one.
        for _ in range(args.repeat):
            for name, run in cases.items():
                runs.setdefault(name, []).append(run())
        if args.profile is not None:
            profile_tcp(tcp, 3 * n, args.profile)
    results = {
        name: {
            "msgs_per_s": median([r[0] for r in rs]),
            "client_cpu_us_per_msg": median([r[1] for r in rs]),
            "runs": [{"msgs_per_s": r[0], "client_cpu_us_per_msg": r[1]} for r in rs],
        }
        for name, rs in runs.items()
    }
    rows = [(k, v["msgs_per_s"], v["client_cpu_us_per_msg"]) for k, v in results.items()]
    table(
        f"Signal on the emulator, {n} messages, median of {args.repeat}",
        rows,
        ["client", "msg/s", "client CPU us/msg"],
    )

    def rate(name: str) -> float:
        return results[name]["msgs_per_s"]

    def cpu(name: str) -> float:
        return results[name]["client_cpu_us_per_msg"]

    ratios = {
        "unimsg / raw, TCP": rate("unimsg, TCP") / rate("raw JSON-RPC loop, TCP"),
        "unimsg / raw httpx, HTTP": rate("unimsg, HTTP") / rate("raw JSON-RPC loop, HTTP"),
        "unimsg / plain http.client, HTTP": rate("unimsg, HTTP")
        / rate("plain http.client loop, HTTP"),
        "client CPU unimsg / raw, TCP": cpu("unimsg, TCP") / cpu("raw JSON-RPC loop, TCP"),
        "client CPU unimsg / raw httpx, HTTP": cpu("unimsg, HTTP") / cpu("raw JSON-RPC loop, HTTP"),
        "client CPU unimsg / plain http.client, HTTP": cpu("unimsg, HTTP")
        / cpu("plain http.client loop, HTTP"),
        f"unimsg HTTP {lanes} in flight / sequential": rate(f"unimsg, HTTP, {lanes} in flight")
        / rate("unimsg, HTTP"),
        f"unimsg TCP {lanes} in flight / sequential": rate(f"unimsg, TCP, {lanes} in flight")
        / rate("unimsg, TCP"),
    }
    if "pysignalclijsonrpc, HTTP" in results:
        base = rate("pysignalclijsonrpc, HTTP")
        ratios["unimsg HTTP / pysignalclijsonrpc"] = rate("unimsg, HTTP") / base
        ratios[f"unimsg HTTP {lanes} in flight / pysignalclijsonrpc"] = (
            rate(f"unimsg, HTTP, {lanes} in flight") / base
        )
        ratios["unimsg TCP / pysignalclijsonrpc"] = rate("unimsg, TCP") / base
    for name, value in ratios.items():
        print(f"  {name}: {value:.2f}x")
    real = real_daemon(args.real_calls, args.repeat)
    write(
        "signal",
        {"messages": n, "repeat": args.repeat, "in_flight": lanes, "results": results}
        | {"ratios": ratios, "real_daemon": real},
        args.json,
    )


def real_daemon(calls: int, repeat: int) -> dict[str, Any]:
    """The real signal-cli daemon's part (benchmarks/_signal_real.py), or why it was skipped."""
    import _signal_real

    if calls <= 0:
        return {"skipped": "--real-calls 0"}
    if not _signal_real.installed():
        return {"skipped": "signal-cli is not installed: python3 scripts/signal_cli.py install"}
    real = _signal_real.measure(calls, repeat)
    rows = [(k, v["calls_per_s"], v["client_cpu_us_per_call"]) for k, v in real["results"].items()]
    table(
        f"Signal on the real signal-cli daemon, {calls} listContacts calls, median of {repeat}",
        rows,
        ["client", "calls/s", "client CPU us/call"],
    )
    for name, value in real["ratios"].items():
        print(f"  unimsg / raw, {name}: {value:.2f}x")
    return real


if __name__ == "__main__":
    main()
