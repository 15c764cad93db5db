"""Start-up: import times and the time from ``Client.__aenter__`` to ready.

    python benchmarks/bench_startup.py [--repeat R] [--json FILE]

Import times come from fresh interpreters (``python -X importtime``), so
nothing is cached in-process; the figure is the cumulative time of the
top-level module. Also checks that ``import unimsg`` does not import nio.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median, table, write

MODULES = ["unimsg", "unimsg.testing", "unimsg_signal", "unimsg_matrix", "nio"]


def import_ms(module: str) -> float:
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    pattern = re.compile(rf"\|\s*(\d+)\s*\|\s*{re.escape(module)}$")
    times = [int(m.group(1)) for line in out.splitlines() if (m := pattern.search(line))]
    return times[-1] / 1000 if times else float("nan")


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    imports = {m: median([import_ms(m) for _ in range(args.repeat)]) for m in MODULES}
    ready = median([anyio.run(fake_ready_ms) for _ in range(args.repeat)])
    nio = pulls_nio()
    table(
        f"start-up, median of {args.repeat} fresh interpreters",
        [*[(f"import {m}", ms) for m, ms in imports.items()], ("Client ready (fake)", ready)],
        ["what", "ms"],
    )
    print(f"  import unimsg pulls in nio: {nio}")
    write("startup", {"import_ms": imports, "fake_ready_ms": ready, "imports_nio": nio}, args.json)


if __name__ == "__main__":
    main()
