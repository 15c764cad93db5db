"""Signal on the real signal-cli daemon: local round trips through unimsg vs raw loops.

Used by bench_signal.py. The daemon (scripts/signal_cli.py's install) and the Signal service
stand-in it loads its accounts through (tests/signal_real/standin.py: no network needed) run
in a child process of their own, with free ports and a temporary config directory, and stop
with it; so the client's CPU time is the client's alone. The measured call is ``listContacts``
for one contact, a method the daemon answers from its own database: through unimsg that is
``Client.conversation("signal:+...")``, raw it is the same JSON-RPC request in a lock-step
loop (plain asyncio streams over TCP, a keep-alive ``http.client`` connection over HTTP).

    python benchmarks/_signal_real.py serve DIR   # what the child runs: prints its URLs as JSON
"""

from __future__ import annotations

import asyncio
import http.client
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio

ROOT = Path(__file__).resolve().parents[1]
ALICE, BOB = "+15550000001", "+15550000002"
WARM_UP = 50
Measured = tuple[float, float]


def _tier() -> Any:
    """The real-daemon tier's helpers (tests/signal_real), importable from the checkout."""
    sys.path.insert(0, str(ROOT))
    from tests.signal_real import accounts, daemon, standin

    return accounts, daemon, standin


def installed() -> bool:
    _, daemon, _ = _tier()
    return daemon.control().load_install() is not None


def serve(state: Path) -> None:
    """Start the stand-in and a daemon serving ALICE and BOB; print the URLs; stop on EOF."""
    accounts, daemon, standin = _tier()
    install = daemon.control().load_install()
    bcprov = next((daemon.control().DIST / "lib").glob("bcprov-*.jar"))
    (state / "standin").mkdir()
    service = standin.StandIn(state / "standin", install["java"], bcprov).start()
    try:
        config = state / "data"
        made = accounts.write_accounts(config, [ALICE, BOB])
        service.add_accounts(made)
        real = daemon.start_daemon(
            "bench",
            state,
            config=config,
            java_opts=service.java_opts,
            classpath_prefix=[str(service.overlay)],
        )
        try:
            accounts.introduce(config, made)
            # A named contact, so that listContacts answers with BOB's row (a local write).
            params = {"account": ALICE, "recipient": BOB, "name": "Bob"}
            assert "result" in daemon.rpc(real, "updateContact", params)
            print(json.dumps({"tcp": real.url("tcp"), "http": real.url("http")}), flush=True)
            sys.stdin.read()
        finally:
            real.stop()
    finally:
        service.close()


@contextmanager
def real_daemon() -> Iterator[dict[str, str]]:
    state = Path(tempfile.mkdtemp(prefix="sigbench"))  # short: UNIX socket paths are limited
    child = subprocess.Popen(
        [sys.executable, __file__, "serve", str(state)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        if not line:
            raise RuntimeError(f"the real daemon did not start (exit {child.wait(30)})")
        yield json.loads(line)
    finally:
        if child.stdin is not None:
            child.stdin.close()
        try:
            child.wait(60)
        except subprocess.TimeoutExpired:
            child.kill()
        shutil.rmtree(state, ignore_errors=True)


def _request(i: int) -> dict[str, Any]:
    params = {"account": ALICE, "recipient": [BOB]}
    return {"jsonrpc": "2.0", "id": i, "method": "listContacts", "params": params}


async def _timed(call: Callable[[int], Awaitable[None]], n: int) -> Measured:
    for i in range(-min(WARM_UP, n), 0):
        await call(i)
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(n):
        await call(i)
    return n / (time.perf_counter() - wall), (time.process_time() - cpu) / n * 1e6


async def raw_tcp(url: str, n: int) -> Measured:
    host, port = url.removeprefix("tcp://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:

        async def call(i: int) -> None:
            writer.write(json.dumps(_request(i)).encode() + b"\n")
            line = await reader.readline()
            assert b'"result"' in line, line

        return await _timed(call, n)
    finally:
        writer.close()


def raw_http(url: str, n: int) -> Measured:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port))
    headers = {"Content-Type": "application/json"}

    def call(i: int) -> None:
        connection.request("POST", "/api/v1/rpc", json.dumps(_request(i)).encode(), headers)
        assert "result" in json.loads(connection.getresponse().read())

    try:
        for i in range(-min(WARM_UP, n), 0):
            call(i)
        wall, cpu = time.perf_counter(), time.process_time()
        for i in range(n):
            call(i)
        return n / (time.perf_counter() - wall), (time.process_time() - cpu) / n * 1e6
    finally:
        connection.close()


async def through_unimsg(url: str, n: int) -> Measured:
    from unimsg_signal import SignalAdapter

    import unimsg

    adapter = SignalAdapter.create(ALICE, url, multi_account=True)
    async with unimsg.Client(adapter) as client:

        async def call(_: int) -> None:
            conversation = await client.conversation(f"signal:{BOB}")
            assert conversation.direct

        return await _timed(call, n)


def measure(n: int, repeat: int) -> dict[str, Any]:
    """Every case ``repeat`` times, interleaved; medians and the unimsg/raw ratios."""
    from _common import median

    runs: dict[str, list[Measured]] = {}
    with real_daemon() as urls:
        cases: dict[str, Callable[[], Measured]] = {
            "raw lock-step loop, TCP": lambda: anyio.run(raw_tcp, urls["tcp"], n),
            "unimsg, TCP": lambda: anyio.run(through_unimsg, urls["tcp"], n),
            "plain http.client loop, HTTP": lambda: raw_http(urls["http"], n),
            "unimsg, HTTP": lambda: anyio.run(through_unimsg, urls["http"], n),
        }
        for _ in range(repeat):
            for name, run in cases.items():
                runs.setdefault(name, []).append(run())
    results = {
        name: {
            "calls_per_s": median([r[0] for r in rs]),
            "client_cpu_us_per_call": median([r[1] for r in rs]),
            "runs": [{"calls_per_s": r[0], "client_cpu_us_per_call": r[1]} for r in rs],
        }
        for name, rs in runs.items()
    }

    def ratio(key: str, unimsg: str, raw: str) -> float:
        return float(results[unimsg][key] / results[raw][key])

    ratios = {}
    raws = {"TCP": "raw lock-step loop, TCP", "HTTP": "plain http.client loop, HTTP"}
    for transport, raw in raws.items():
        ours = f"unimsg, {transport}"
        ratios[f"listContacts {transport}: throughput"] = ratio("calls_per_s", ours, raw)
        ratios[f"listContacts {transport}: client CPU"] = ratio("client_cpu_us_per_call", ours, raw)
    return {"method": "listContacts", "calls": n, "results": results, "ratios": ratios}


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve(Path(sys.argv[2]))
    else:
        sys.exit(__doc__)
