"""One entry point for a fresh checkout: ``demo`` and ``test``.

    python3 scripts/dev.py demo     # install unimsg into .venv and run `unimsg demo`
    python3 scripts/dev.py test     # install dev extras, start Synapse, run every check

Stdlib only, so that it runs on a machine with nothing but Python 3.11+.
``test`` runs ruff, mypy --strict, the docs build and pytest; it starts the
test homeservers (scripts/synapse.py) unless they already run, and stops
what it started, and installs the real signal-cli (scripts/signal_cli.py) and
the independent Matrix client (scripts/jsclient.py) and the PostgreSQL server
binaries (scripts/postgres.py; the tests start their own server unless
instance ``test`` runs).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
SYNAPSE = [sys.executable, str(ROOT / "scripts" / "synapse.py")]
SIGNAL_CLI = [sys.executable, str(ROOT / "scripts" / "signal_cli.py")]
JSCLIENT = [sys.executable, str(ROOT / "scripts" / "jsclient.py")]
POSTGRES = [sys.executable, str(ROOT / "scripts" / "postgres.py")]


def say(message: str) -> None:
    print(f"[dev] {message}", flush=True)


def run(*cmd: str | Path, **kwargs: object) -> None:
    subprocess.run([str(c) for c in cmd], check=True, cwd=ROOT, **kwargs)  # type: ignore[call-overload]


def ensure_venv(extras: str) -> None:
    if not (BIN / "python").exists():
        say(f"creating {VENV.relative_to(ROOT)}")
        venv.EnvBuilder(with_pip=True).create(VENV)
    target = f".[{extras}]" if extras else "."
    say(f"installing {target} (editable)")
    run(
        BIN / "python",
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "-e",
        target,
    )


def demo(_: argparse.Namespace) -> int:
    ensure_venv("")
    return subprocess.run([str(BIN / "unimsg"), "demo"], cwd=ROOT).returncode


def _synapse_running(profile: str) -> bool:
    return (ROOT / ".cache" / "synapse" / profile / "instance.json").exists()


def test(args: argparse.Namespace) -> int:
    ensure_venv("dev")
    started: list[str] = []
    if not args.no_synapse:
        run(*SYNAPSE, "install")
        # The independent Matrix client (matrix-js-sdk) the end-to-end encryption tests drive.
        run(*JSCLIENT, "install")
        for profile in ("relaxed", "stock", "faults"):
            if not _synapse_running(profile):
                run(*SYNAPSE, "start", "--profile", profile)
                started.append(profile)
    if not args.no_signal_cli:
        # tests/signal_real starts its own daemons once per run; only the install is needed.
        run(*SIGNAL_CLI, "install")
    if not args.no_postgres:
        run(*POSTGRES, "install")
    try:
        say("ruff")
        run(BIN / "ruff", "check", ".")
        say("mypy --strict")
        run(BIN / "mypy")
        say("mkdocs build --strict")
        run(
            BIN / "mkdocs",
            "build",
            "--strict",
            "--quiet",
            "--site-dir",
            ROOT / ".cache" / "site",
            env=dict(os.environ, NO_MKDOCS_2_WARNING="1"),
        )
        say("pytest")
        env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
        return subprocess.run(
            [str(BIN / "python"), "-m", "pytest", *args.pytest_args], cwd=ROOT, env=env
        ).returncode
    except subprocess.CalledProcessError as exc:
        say(f"failed: {' '.join(map(str, exc.cmd))}")
        return exc.returncode or 1
    finally:
        for profile in started:
            subprocess.run([*SYNAPSE, "stop", "--profile", profile], cwd=ROOT)


def main() -> int:
    parser = argparse.ArgumentParser(prog="scripts/dev.py")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="install unimsg and run its demo (no servers needed)")
    t = sub.add_parser("test", help="install dev extras and run the whole test suite")
    t.add_argument(
        "--no-synapse",
        action="store_true",
        help="do not start Synapse (its tests are then skipped, or fail under CI)",
    )
    t.add_argument(
        "--no-signal-cli",
        action="store_true",
        help="do not install signal-cli (its tests are then skipped, or fail under CI)",
    )
    t.add_argument(
        "--no-postgres",
        action="store_true",
        help="do not install PostgreSQL (its tests are then skipped, or fail under CI)",
    )
    t.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = parser.parse_args()
    return demo(args) if args.command == "demo" else test(args)


if __name__ == "__main__":
    sys.exit(main())
