"""Figures for docs/performance.md from the benchmarks' JSON.

    python benchmarks/plot.py [--results benchmarks/results] [--out docs/performance]

Writes one small PNG per benchmark whose JSON is present (missing or skipped
ones are passed over): signal.png, matrix.png, fake.png, scale.png,
startup.png.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

HERE = Path(__file__).resolve().parent
DPI = 80
UNIMSG, OTHER, RAW = "#3465a4", "#888a85", "#f57900"


def colour(label: str) -> str:
    if label.startswith("unimsg"):
        return UNIMSG
    if label.startswith("raw") or label.startswith("http"):
        return RAW
    return OTHER


def bars(ax: Axes, values: dict[str, float], title: str, unit: str) -> None:
    # Bottom to top, so that the first entry reads first.
    labels = list(values)[::-1]
    ax.barh(labels, [values[k] for k in labels], color=[colour(k) for k in labels])
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(unit, fontsize=9)
    ax.tick_params(labelsize=8)
    digits = 1 if max(values.values()) < 100 else 0
    for i, label in enumerate(labels):
        ax.annotate(
            f"{values[label]:,.{digits}f}",
            (values[label], i),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            fontsize=7,
        )
    ax.margins(x=0.18)
    if max(values.values()) >= 10_000:
        # Thousands as "20k": full figures run into each other on a narrow axis.
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x / 1000:g}k"))


def signal(data: dict[str, Any]) -> Figure:
    results = data["results"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    bars(left, {k: v["msgs_per_s"] for k, v in results.items()}, "throughput", "messages/s")
    bars(
        right,
        {k: v["client_cpu_us_per_msg"] for k, v in results.items()},
        "client CPU per message (lower is better)",
        "µs",
    )
    fig.suptitle(f"Signal on the daemon emulator, {data['messages']} messages", fontsize=11)
    fig.tight_layout()
    return fig


def matrix(data: dict[str, Any]) -> Figure:
    results = data["results"]
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2), gridspec_kw={"width_ratios": [3, 3, 2]})
    bars(axes[0], {k: v["msgs_per_s"] for k, v in results.items()}, "throughput", "messages/s")
    bars(
        axes[1],
        {k: v["client_cpu_us_per_msg"] for k, v in results.items()},
        "client CPU per message (lower is better)",
        "µs",
    )
    axes[1].set_yticklabels([])
    latency = data["latency_ms"]
    names = list(latency)
    width = 0.25
    for j, q in enumerate(("p50", "p95", "p99")):
        axes[2].bar(
            [i + (j - 1) * width for i in range(len(names))],
            [latency[n][q] for n in names],
            width,
            label=q,
        )
    axes[2].set_xticks(range(len(names)), names, rotation=20, ha="right", fontsize=8)
    axes[2].set_title("send → receive latency", fontsize=10)
    axes[2].set_ylabel("ms", fontsize=9)
    axes[2].legend(fontsize=8)
    fig.suptitle(f"Matrix on Synapse (relaxed), {data['messages']} messages", fontsize=11)
    fig.tight_layout()
    return fig


def fake(data: dict[str, Any]) -> Figure:
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 2.8))
    bars(
        left,
        {
            "unimsg, per CPU second": data["throughput_msgs_per_cpu_s"],
            "bare stream, per CPU second": data["raw_stream_msgs_per_cpu_s"],
            "goal: 0.6x the bare stream": 0.6 * data["raw_stream_msgs_per_cpu_s"],
            "unimsg, wall clock": data["throughput_msgs_per_s"],
            "bare stream, wall clock": data["raw_stream_msgs_per_s"],
        },
        "send → events(), one core",
        "messages/s",
    )
    right.bar(list(data["latency_ms"]), list(data["latency_ms"].values()), color=UNIMSG)
    right.axhline(1.0, color="red", linewidth=1, linestyle="--", label="goal: p99 < 1 ms")
    right.set_title("dispatch latency", fontsize=10)
    right.set_ylabel("ms", fontsize=9)
    right.legend(fontsize=8)
    fig.suptitle(f"fake network, {data['messages']} messages", fontsize=11)
    fig.tight_layout()
    return fig


def scale(data: dict[str, Any]) -> Figure:
    matrix_rows = data.get("matrix_rooms") or []
    fig, axes = plt.subplots(1, 3 if matrix_rows else 2, figsize=(13 if matrix_rows else 9, 3.4))
    for ax, key, label in (
        (axes[0], "conversations", "conversations"),
        (axes[1], "events", "delivered events"),
    ):
        rows = data[key]
        ns = [r["n"] for r in rows]
        ax.plot(ns, [r["seconds"] for r in rows], "o-", color=UNIMSG, label="seconds")
        ax.set_xlabel(label, fontsize=9)
        ax.set_ylabel("seconds", fontsize=9)
        twin = ax.twinx()
        twin.plot(ns, [r["peak_bytes"] / 2**20 for r in rows], "s--", color=OTHER)
        twin.set_ylabel("peak MiB (dashed)", fontsize=9)
        ax.set_title(f"fake: {label}", fontsize=10)
    if matrix_rows:
        ax = axes[2]
        ns = [r["n"] for r in matrix_rows]
        for client, c in (("nio", OTHER), ("unimsg", UNIMSG)):
            ax.plot(ns, [r[client]["seconds"] for r in matrix_rows], "o-", color=c, label=client)
        ax.set_xlabel("rooms", fontsize=9)
        ax.set_ylabel("first sync, seconds", fontsize=9)
        twin = ax.twinx()
        for client, c in (("nio", OTHER), ("unimsg", UNIMSG)):
            twin.plot(
                ns, [r[client]["rss_growth_bytes"] / 2**20 for r in matrix_rows], "s--", color=c
            )
        twin.set_ylabel("RSS growth MiB (dashed)", fontsize=9)
        ax.legend(fontsize=8, loc="upper left")
        ax.set_title("Matrix: account in N rooms", fontsize=10)
    fig.tight_layout()
    return fig


def startup(data: dict[str, Any]) -> Figure:
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.4))
    shown = {f"import {k}": v for k, v in data["import_ms"].items()}
    labels = {
        "total": "from unimsg import Client (CPU)",
        "attrs+anyio": "import attrs, anyio (CPU)",
        "over": "Client over attrs+anyio (CPU)",
    }
    for key, value in data.get("client_import_cpu_ms", {}).items():
        shown[labels.get(key, key)] = value
    bars(left, shown, "import", "ms")
    left.axvline(50, color="red", linewidth=1, linestyle="--")
    bars(
        right,
        data["import_unimsg_breakdown_ms"],
        "own time per module of Client's import",
        "ms",
    )
    fig.tight_layout()
    return fig


PLOTS: dict[str, Callable[[dict[str, Any]], Figure]] = {
    "signal": signal,
    "matrix": matrix,
    "fake": fake,
    "scale": scale,
    "startup": startup,
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--results", type=Path, default=HERE / "results")
    parser.add_argument("--out", type=Path, default=HERE.parent / "docs" / "performance")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, draw in PLOTS.items():
        source = args.results / f"{name}.json"
        if not source.exists():
            print(f"  {name}: no {source}")
            continue
        data = json.loads(source.read_text())
        if "skipped" in data:
            print(f"  {name}: skipped ({data['skipped']})")
            continue
        fig = draw(data)
        target = args.out / f"{name}.png"
        fig.savefig(target, dpi=DPI)
        plt.close(fig)
        print(f"  {name}: {target} ({target.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
