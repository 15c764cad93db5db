"""The goals table: each measure as a ratio (or figure) taken in one run, against its goal.

    python benchmarks/summary.py [--results DIR]

Reads the JSON the benchmark scripts wrote (``run_all.py`` calls this at the
end) and prints one row per goal of docs/performance.md: what was measured,
the goal, and whether it is met. A row whose script did not run, or skipped
its part (Matrix without Synapse), says so instead of guessing.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, table

Row = tuple[str, str, str, str]


def _load(results: Path, name: str) -> dict[str, Any] | None:
    path = results / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def fake_rows(data: dict[str, Any]) -> list[Row]:
    rate, bare = data["throughput_msgs_per_s"], data["raw_stream_msgs_per_s"]
    # Decided per CPU second: both run in one process without I/O, so that is the
    # rate on an idle core, while wall time moves with whatever else the machine runs.
    cpu_rate, cpu_bare = data["throughput_msgs_per_cpu_s"], data["raw_stream_msgs_per_cpu_s"]
    p99 = data["latency_ms"]["p99"]
    return [
        (
            "fake network: send -> events() vs bare anyio stream (wall; per CPU second)",
            f"{rate:,.0f} msg/s = {rate / bare:.2f}x; {cpu_rate:,.0f} = {cpu_rate / cpu_bare:.2f}x",
            ">= 100,000 msg/s or >= 0.6x",
            _verdict(cpu_rate >= 100_000 or cpu_rate / cpu_bare >= 0.6),
        ),
        ("fake network: p99 latency", f"{p99:.2f} ms", "< 1 ms", _verdict(p99 < 1)),
    ]


def signal_rows(data: dict[str, Any]) -> list[Row]:
    ratios, lanes = data["ratios"], data["in_flight"]
    rows: list[Row] = []
    tcp, cpu = ratios["unimsg / raw, TCP"], ratios["client CPU unimsg / raw, TCP"]
    rows.append(
        (
            "Signal TCP vs asyncio-streams loop: throughput / CPU",
            f"{tcp:.2f}x / {cpu:.2f}x",
            ">= 0.95x / <= 1.2x",
            _verdict(tcp >= 0.95 and cpu <= 1.2),
        )
    )
    seq = ratios.get("unimsg HTTP / pysignalclijsonrpc")
    flight = ratios.get(f"unimsg HTTP {lanes} in flight / pysignalclijsonrpc")
    if seq is None or flight is None:
        rows.append(("Signal HTTP vs pysignalclijsonrpc", "not installed", ">= 3x / >= 4x", "-"))
    else:
        rows.append(
            (
                f"Signal HTTP vs pysignalclijsonrpc: sequential / {lanes} in flight",
                f"{seq:.2f}x / {flight:.2f}x",
                ">= 3x / >= 4x",
                _verdict(seq >= 3 and flight >= 4),
            )
        )
    for base in ("plain http.client", "raw httpx"):
        rate = ratios.get(f"unimsg / {base}, HTTP")
        cost = ratios.get(f"client CPU unimsg / {base}, HTTP")
        if rate is not None and cost is not None:
            rows.append(
                (
                    f"Signal HTTP vs {base} loop: throughput / CPU",
                    f"{rate:.2f}x / {cost:.2f}x",
                    "(for scale)",
                    "",
                )
            )
    return rows


def matrix_rows(data: dict[str, Any]) -> list[Row]:
    if "skipped" in data:
        return [("Matrix vs raw matrix-nio", "skipped: " + data["skipped"], "", "-")]
    ratios = data["ratios"]
    rows: list[Row] = []
    for key, rate in ratios.items():
        if not key.endswith(": throughput vs nio"):
            continue
        label = key.removesuffix(": throughput vs nio").removeprefix("unimsg").strip(" ,")
        cost = ratios[key.replace("throughput", "client CPU")]
        rows.append(
            (
                f"Matrix vs nio, {label}: throughput / CPU",
                f"{rate:.2f}x / {cost:.2f}x",
                ">= 0.97x / <= 1.10x",
                _verdict(rate >= 0.97 and cost <= 1.10),
            )
        )
    return rows


def startup_rows(data: dict[str, Any]) -> list[Row]:
    total = data["import_ms"]["unimsg"]
    rows: list[Row] = [
        ("import unimsg", f"{total:.1f} ms", "< 50 ms", _verdict(total < 50)),
    ]
    over = data.get("client_over_attrs_anyio_cpu_ms")
    client = data.get("client_import_cpu_ms")
    own = data.get("client_own_modules_ms")
    if client is not None:
        rows.append(
            (
                "from unimsg import Client, fresh interpreter (CPU)",
                f"{client['total']:.1f} ms (attrs+anyio alone {client['attrs+anyio']:.1f})",
                "(for scale)",
                "",
            )
        )
    if over is not None:
        label = f"; unimsg's modules own {own['median']:.1f}" if own is not None else ""
        rows.append(
            (
                "from unimsg import Client, over attrs+anyio (CPU)",
                f"{over['median']:.1f} ms (fastest {over['fastest']:.1f}){label}",
                "<= 15 ms",
                _verdict(over["median"] <= 15),
            )
        )
    return rows


def real_rows(data: dict[str, Any]) -> list[Row]:
    real = data.get("real_daemon")
    if not real:
        return []
    if "skipped" in real:
        return [("Signal, real signal-cli", "skipped: " + real["skipped"], "", "-")]
    ratios, method = real["ratios"], real.get("method", "listContacts")
    rows: list[Row] = []
    for transport, raw in (("TCP", "lock-step loop"), ("HTTP", "http.client loop")):
        rate = ratios.get(f"{method} {transport}: throughput")
        cost = ratios.get(f"{method} {transport}: client CPU")
        if rate is not None and cost is not None:
            rows.append(
                (
                    f"real signal-cli, {method} over {transport} vs a raw {raw}: throughput / CPU",
                    f"{rate:.2f}x / {cost:.2f}x",
                    "(for scale)",
                    "",
                )
            )
    return rows


ROWS: dict[str, list[Callable[[dict[str, Any]], list[Row]]]] = {
    "fake": [fake_rows],
    "signal": [signal_rows, real_rows],
    "matrix": [matrix_rows],
    "startup": [startup_rows],
}


def summarise(results: Path) -> list[Row]:
    rows: list[Row] = []
    for name, makers in ROWS.items():
        data = _load(results, name)
        if data is None:
            rows.append((name, "not run", "", "-"))
            continue
        for make in makers:
            rows.extend(make(data))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    rows = summarise(args.results)
    table("goals, each measured in one run", rows, ["measure", "now", "goal", ""])


if __name__ == "__main__":
    main()
