"""Start-up: import times and the time from ``Client.__aenter__`` to ready.

    python benchmarks/bench_startup.py [--repeat R] [--json FILE]

Import times come from fresh interpreters (``python -X importtime``), so
nothing is cached in-process; the figure is the top-level module's cumulative
time, the median and the fastest of the runs, and the breakdown lists where ``import
unimsg`` spends it (each module's own time, the fastest of the runs, so that
a burst of load elsewhere on the machine does not show up as a cost). Also
checks that ``import unimsg`` does not import nio.

Ready times: fake network; Signal on the daemon emulator (TCP, its own
process); Matrix on Synapse (relaxed profile; skipped when it is not
running) for a device logged in beforehand with an empty store, which is a
first start: whoami, the first sync and the key upload.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median, table, write

MODULES = ["unimsg", "unimsg.testing", "unimsg_signal", "unimsg_matrix", "nio"]
_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|\s*(\S+)")


def import_run(module: str, code: str | None = None) -> tuple[float, dict[str, float]]:
    """Cumulative ms of ``module`` and each imported module's own ms, in a fresh interpreter
    running ``code`` (``import module`` unless given)."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code or f"import {module}"],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    total, own = float("nan"), {}
    for line in out.splitlines():
        if line.endswith("| anyio") and code is not None:
            # Everything before is the code's own ``import attrs, anyio``: not ours.
            own.clear()
        elif m := _LINE.match(line):
            own[m.group(3)] = int(m.group(1)) / 1000
            if m.group(3) == module:
                total = int(m.group(2)) / 1000
    return total, own


_OVER = (
    "import time, attrs, anyio; start = time.process_time(); from unimsg import Client; "
    "print((time.process_time() - start) * 1000)"
)


def own_over_deps_ms() -> float:
    """CPU ms of ``from unimsg import Client`` in a fresh interpreter that has already
    imported attrs and anyio: what unimsg's own modules (and what only they pull in) cost."""
    out = subprocess.run(
        [sys.executable, "-c", _OVER], capture_output=True, text=True, check=True
    ).stdout
    return float(out)


def breakdown(runs: list[dict[str, float]], top: int = 12) -> dict[str, float]:
    """Own time per package (unimsg per module), fastest run of each, largest first."""
    fastest: dict[str, float] = {}
    for run in runs:
        for name, ms in run.items():
            fastest[name] = min(fastest.get(name, ms), ms)
    groups: dict[str, float] = defaultdict(float)
    for name, ms in fastest.items():
        groups[name if name.startswith("unimsg") else name.split(".")[0]] += ms
    return dict(sorted(groups.items(), key=lambda kv: -kv[1])[:top])


def pulls_nio() -> bool:
    code = "import sys, unimsg; print('nio' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip() == "True"


async def fake_ready_ms() -> float:
    from unimsg import Client
    from unimsg.testing import FakeNetwork

    net = FakeNetwork()
    adapter = net.adapter("signal", "signal:+15550000001")
    start = time.perf_counter()
    async with Client(adapter):
        ready = time.perf_counter() - start
    return ready * 1000


async def signal_ready_ms(port: int) -> float:
    from unimsg_signal import SignalAdapter

    from unimsg import Client

    adapter = SignalAdapter.create("+15550000001", f"tcp://127.0.0.1:{port}")
    start = time.perf_counter()
    async with Client(adapter):
        ready = time.perf_counter() - start
    return ready * 1000


def matrix_ready_ms(server: dict[str, Any], user: dict[str, str]) -> float:
    from _synapse import login

    device = login(server, user, "bench-startup")

    async def run() -> float:
        from unimsg_matrix import MatrixAdapter

        from unimsg import Client

        with tempfile.TemporaryDirectory(prefix="unimsg-bench-") as store:
            adapter = MatrixAdapter(
                homeserver=server["url"],
                user_id=device["user_id"],
                access_token=device["access_token"],
                device_id=device["device_id"],
                store_path=Path(store),
                # Compared with raw matrix-nio, which has no cross-signing: like for like.
                cross_signing=False,
            )
            start = time.perf_counter()
            async with Client(adapter):
                ready = time.perf_counter() - start
        return ready * 1000

    return anyio.run(run)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    imports: dict[str, float] = {}
    fastest: dict[str, float] = {}
    own_runs: list[dict[str, float]] = []
    for module in MODULES:
        runs = [import_run(module) for _ in range(args.repeat)]
        imports[module] = median([total for total, _ in runs])
        fastest[module] = min(total for total, _ in runs)
    over = [own_over_deps_ms() for _ in range(max(args.repeat, 5))]
    # Where `from unimsg import Client` spends its time, attrs and anyio already loaded.
    code = "import attrs, anyio; from unimsg import Client"
    own_runs = [import_run("unimsg", code)[1] for _ in range(args.repeat)]
    deps = {"attrs", "attr", "anyio", "typing_extensions", "sniffio", "idna"}
    own_runs = [
        {name: ms for name, ms in run.items() if name.split(".")[0] not in deps} for run in own_runs
    ]
    ready = {"fake": median([anyio.run(fake_ready_ms) for _ in range(args.repeat)])}

    from bench_signal import emulator

    with emulator() as (tcp, _):
        ready["signal (emulator, TCP)"] = median(
            [anyio.run(signal_ready_ms, tcp) for _ in range(args.repeat)]
        )
    from _synapse import instance, register

    server = instance("relaxed")
    if server is not None:
        user = register(server, "startup")
        ready["matrix (Synapse, first start)"] = median(
            [matrix_ready_ms(server, user) for _ in range(args.repeat)]
        )
    else:
        print("  (Matrix ready time skipped: Synapse, relaxed profile, is not running)")
    nio = pulls_nio()
    parts = breakdown(own_runs)
    table(
        f"start-up, median of {args.repeat}",
        [
            *[(f"import {m}", ms, fastest[m]) for m, ms in imports.items()],
            ("from unimsg import Client, over attrs+anyio (CPU)", median(over), min(over)),
            *[(f"Client ready: {k}", ms, "") for k, ms in ready.items()],
        ],
        ["what", "ms", "fastest ms"],
    )
    table(
        "from unimsg import Client after attrs, anyio: own time by module (fastest run)",
        list(parts.items()),
        ["module", "ms"],
    )
    print(f"  import unimsg pulls in nio: {nio}")
    write(
        "startup",
        {
            "repeat": args.repeat,
            "import_ms": imports,
            "import_fastest_ms": fastest,
            "import_unimsg_breakdown_ms": parts,
            "client_over_attrs_anyio_cpu_ms": {"median": median(over), "fastest": min(over)},
            "ready_ms": ready,
            "imports_nio": nio,
        },
        args.json,
    )


if __name__ == "__main__":
    main()
