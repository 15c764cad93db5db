"""Signal: unimsg's adapter vs a raw JSON-RPC loop vs pysignalclijsonrpc, on the emulator.

    python benchmarks/bench_signal.py [--messages 1000] [--repeat 3] [--json FILE]

The signal-cli daemon emulator runs in its own process, so the figures are
what a client pays: messages per second sent (each answered by the daemon)
and the client's own CPU time per message. Every comparison is a ratio taken
in the same run. pysignalclijsonrpc only speaks HTTP and is synchronous.
"""

from __future__ import annotations

import argparse
import json
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


async def raw_tcp(port: int, n: int, _: int) -> None:
    stream = await anyio.connect_tcp("127.0.0.1", port)
    buffer = b""
    async with stream:
        for i in range(n):
            request = {"jsonrpc": "2.0", "id": i, "method": "send", "params": _params(i)}
            await stream.send(json.dumps(request).encode() + b"\n")
            while b"\n" not in buffer:
                buffer += await stream.receive()
            line, _, buffer = buffer.partition(b"\n")
            assert b'"result"' in line, line


async def raw_http(port: int, n: int, _: int) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        for i in range(n):
            request = {"jsonrpc": "2.0", "id": i, "method": "send", "params": _params(i)}
            answer = await client.post("/api/v1/rpc", json=request)
            assert "result" in answer.json()


async def unimsg_send(url: str, n: int, in_flight: int) -> None:
    from unimsg_signal import SignalAdapter

    import unimsg

    adapter = SignalAdapter.create(SENDER, url)
    async with unimsg.Client(adapter) as client:
        limiter = anyio.Semaphore(in_flight)

        async def one(i: int) -> None:
            async with limiter:
                await client.send(f"signal:{RECIPIENT}", f"benchmark {i}")

        async with anyio.create_task_group() as tg:
            for i in range(n):
                await limiter.acquire()
                limiter.release()
                tg.start_soon(one, i)


def pysignal(port: int, n: int) -> None:
    from pysignalclijsonrpc import SignalCliJSONRPCApi

    api = SignalCliJSONRPCApi(f"http://127.0.0.1:{port}/api/v1/rpc", account=SENDER)
    for i in range(n):
        api.send_message(message=f"benchmark {i}", recipients=[RECIPIENT])


def measure(run: Callable[[], None], n: int) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return n / (time.perf_counter() - wall), (time.process_time() - cpu) / n * 1e6


def async_runner(func: Callable[..., Awaitable[None]], *args: Any) -> Callable[[], None]:
    return lambda: anyio.run(func, *args)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    n = args.messages
    results: dict[str, dict[str, float]] = {}
    with emulator() as (tcp, http):
        cases: dict[str, Callable[[], None]] = {
            "raw JSON-RPC loop, TCP": async_runner(raw_tcp, tcp, n, 1),
            "unimsg, TCP": async_runner(unimsg_send, f"tcp://127.0.0.1:{tcp}", n, 1),
            "unimsg, TCP, 16 in flight": async_runner(unimsg_send, f"tcp://127.0.0.1:{tcp}", n, 16),
            "raw JSON-RPC loop, HTTP": async_runner(raw_http, http, n, 1),
            "unimsg, HTTP": async_runner(unimsg_send, f"http://127.0.0.1:{http}", n, 1),
            "unimsg, HTTP, 16 in flight": async_runner(
                unimsg_send, f"http://127.0.0.1:{http}", n, 16
            ),
        }
        try:
            import pysignalclijsonrpc  # noqa: F401

            cases["pysignalclijsonrpc, HTTP"] = lambda: pysignal(http, n)
        except ImportError:
            print("  (pysignalclijsonrpc not installed: pip install pysignalclijsonrpc)")
        for name, run in cases.items():
            runs = [measure(run, n) for _ in range(args.repeat)]
            results[name] = {
                "msgs_per_s": median([r[0] for r in runs]),
                "client_cpu_us_per_msg": median([r[1] for r in runs]),
            }
    rows = [(k, v["msgs_per_s"], v["client_cpu_us_per_msg"]) for k, v in results.items()]
    table(
        f"Signal on the emulator, {n} messages, median of {args.repeat}",
        rows,
        ["client", "msg/s", "client CPU us/msg"],
    )
    ratios = {
        "unimsg / raw, TCP": results["unimsg, TCP"]["msgs_per_s"]
        / results["raw JSON-RPC loop, TCP"]["msgs_per_s"],
        "unimsg / raw, HTTP": results["unimsg, HTTP"]["msgs_per_s"]
        / results["raw JSON-RPC loop, HTTP"]["msgs_per_s"],
    }
    if "pysignalclijsonrpc, HTTP" in results:
        base = results["pysignalclijsonrpc, HTTP"]["msgs_per_s"]
        ratios["unimsg HTTP / pysignalclijsonrpc"] = results["unimsg, HTTP"]["msgs_per_s"] / base
        ratios["unimsg HTTP 16 in flight / pysignalclijsonrpc"] = (
            results["unimsg, HTTP, 16 in flight"]["msgs_per_s"] / base
        )
    for name, value in ratios.items():
        print(f"  {name}: {value:.2f}x")
    write("signal", {"messages": n, "results": results, "ratios": ratios}, args.json)


if __name__ == "__main__":
    main()
