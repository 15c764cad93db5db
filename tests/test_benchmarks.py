"""The benchmark scripts still run: ``run_all.py --quick`` and ``plot.py`` on its output.

Only exit status and written files are checked, never timings: tiny sizes on
a shared machine measure nothing. The Matrix parts need the relaxed Synapse
(``python3 scripts/synapse.py start``): without it they are skipped, except
in CI, where a skip would hide a broken script.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
NAMES = ("fake", "startup", "signal", "scale", "matrix")


def _synapse_problem() -> str | None:
    sys.path.insert(0, str(BENCH))
    try:
        from _synapse import instance
    finally:
        sys.path.remove(str(BENCH))
    if instance("relaxed") is None:
        return "Synapse (relaxed profile) is not running: python3 scripts/synapse.py start"
    return None


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("bench")
    committed = {p: p.stat().st_mtime for p in (BENCH / "results").glob("*.json")}
    run = subprocess.run(
        [sys.executable, str(BENCH / "run_all.py"), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    figures = out / "figures"
    plot = subprocess.run(
        [sys.executable, str(BENCH / "plot.py"), "--results", str(out), "--out", str(figures)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    after = {p: p.stat().st_mtime for p in (BENCH / "results").glob("*.json")}
    return {
        "run": run,
        "plot": plot,
        "out": out,
        "figures": figures,
        "untouched": committed == after,
    }


def test_run_all_quick_succeeds(quick: dict[str, Any]) -> None:
    run = quick["run"]
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    # The goals table closes the run: one row per goal, from this run's JSON.
    goals = run.stdout[run.stdout.index("goals, each measured in one run") :]
    for row in ("fake network", "Signal TCP", "Signal HTTP vs pysignalclijsonrpc", "import unimsg"):
        assert row in goals, goals


@pytest.mark.parametrize("name", NAMES)
def test_each_benchmark_writes_json(quick: dict[str, Any], name: str) -> None:
    data = json.loads((quick["out"] / f"{name}.json").read_text())
    assert data["machine"]["python"]


def test_quick_run_leaves_committed_results_alone(quick: dict[str, Any]) -> None:
    assert quick["untouched"]


def test_plot_draws_from_the_json(quick: dict[str, Any]) -> None:
    plot = quick["plot"]
    assert plot.returncode == 0, plot.stdout[-3000:] + plot.stderr[-3000:]
    drawn = {p.stem for p in quick["figures"].glob("*.png")}
    assert {"fake", "signal", "scale", "startup"} <= drawn


def test_matrix_parts_ran(quick: dict[str, Any]) -> None:
    problem = _synapse_problem()
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"Synapse is required in CI: {problem}", pytrace=False)
        pytest.skip(problem)
    out = quick["out"]
    matrix = json.loads((out / "matrix.json").read_text())
    assert "skipped" not in matrix
    assert matrix["results"] and matrix["latency_ms"]
    assert json.loads((out / "scale.json").read_text())["matrix_rooms"]
    assert any(
        k.startswith("matrix") for k in json.loads((out / "startup.json").read_text())["ready_ms"]
    )
    assert (quick["figures"] / "matrix.png").exists()
