"""The whole benchmark suite in one command.

    python benchmarks/run_all.py [--quick] [--out DIR] [--only fake,signal,...]

Runs each benchmark script in its own process, in turn (they would skew each
other's timings side by side), each printing its table and writing
``<name>.json`` into ``--out``. Without ``--quick`` that is
``benchmarks/results/``, the figures docs/performance.md is built from.
``--quick`` uses tiny sizes and one repetition to show that every script
still runs; its figures mean nothing, so it writes into a temporary
directory unless ``--out`` says otherwise. At the end it prints the goals
table (``summary.py``): each goal's ratio, all taken in this run. The Matrix parts skip themselves
when the relaxed Synapse is not running. ``benchmarks/plot.py`` draws the
figures from the JSON.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table
from summary import summarise

HERE = Path(__file__).resolve().parent

FULL: dict[str, list[str]] = {
    "fake": ["--profile", str(HERE / "results" / "profile-fake.txt")],
    "startup": [],
    "signal": ["--profile", str(HERE / "results" / "profile-signal-tcp.txt")],
    "scale": [],
    "matrix": ["--profile", str(HERE / "results" / "profile-matrix")],
}
QUICK: dict[str, list[str]] = {
    "fake": ["--messages", "2000", "--repeat", "1"],
    "startup": ["--repeat", "1"],
    "signal": ["--messages", "30", "--repeat", "1", "--real-calls", "5"],
    "scale": ["--sizes", "50,100", "--events", "500,1000", "--rooms", "3,6"],
    "matrix": ["--messages", "5", "--repeat", "1", "--latency", "2", "--rooms", "plain"],
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repetition")
    parser.add_argument("--out", type=Path, help="directory for the JSON results")
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(FULL)}")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    names = args.only.split(",") if args.only else list(plan)
    unknown = set(names) - set(plan)
    if unknown:
        parser.error(f"unknown benchmarks: {', '.join(sorted(unknown))}")
    out = args.out
    if out is None:
        out = Path(tempfile.mkdtemp(prefix="unimsg-bench-")) if args.quick else HERE / "results"
    out.mkdir(parents=True, exist_ok=True)
    failed = []
    for name in names:
        command = [sys.executable, str(HERE / f"bench_{name}.py"), *plan[name]]
        command += ["--json", str(out / f"{name}.json")]
        print(f"== {name}: {' '.join(command[1:])}", flush=True)
        start = time.monotonic()
        if subprocess.run(command, check=False).returncode:
            failed.append(name)
        print(f"== {name}: {time.monotonic() - start:.0f} s", flush=True)
    print(f"results in {out}")
    goals = summarise(out)
    table("goals, each measured in one run", goals, ["measure", "now", "goal", ""])
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
