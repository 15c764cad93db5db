"""Install the built wheel into fresh venvs, one per extra, and check each install works.

    python3 scripts/install_matrix.py   # unimsg, [matrix], [signal], [matrix,signal], [postgres]

The test suite runs in a venv holding every extra and the dev tools, which
hides a dependency that only some other package happens to bring along. Here
each install starts from nothing: the wheel is built once, installed into a
new venv per variant (in parallel, sharing one pip cache), and inside each
venv `check` imports what that install promises, constructs its adapters,
asks for the others (which must fail naming what is missing) and runs
``unimsg adapters``. Stdlib only.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache"
VARIANTS = ("", "matrix", "signal", "matrix,signal", "postgres")
#: What each adapter's extra installs; the fake adapter needs nothing beyond unimsg.
DISTRIBUTIONS = {"matrix": ("matrix-nio", "sniffio"), "signal": ("httpx", "h11", "sniffio")}


def say(message: str) -> None:
    print(f"[install-matrix] {message}", flush=True)


def build_wheel(out: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", out, ROOT],
        check=True,
        env=_pip_env(),
    )
    (wheel,) = out.glob("unimsg-*.whl")
    return wheel


def _pip_env() -> dict[str, str]:
    return dict(os.environ, PIP_CACHE_DIR=str(CACHE / "pip"), PIP_DISABLE_PIP_VERSION_CHECK="1")


def install_and_check(wheel: Path, extras: str, where: Path) -> tuple[str, bool, str, float]:
    """Make a venv with ``unimsg[extras]`` from ``wheel``, run `check` in it."""
    started = time.monotonic()
    label = f"unimsg[{extras}]" if extras else "unimsg"
    venv_dir = where / (extras.replace(",", "-") or "base")
    python = venv_dir / "bin" / "python"
    # pip runs from outside (--python), so the venv needs no pip of its own: faster.
    steps = [
        [sys.executable, "-m", "venv", "--without-pip", venv_dir],
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            python,
            "install",
            "--quiet",
            # Byte-compiling every dependency is most of an install's CPU time, and
            # nothing here runs long enough to profit from it.
            "--no-compile",
            f"unimsg[{extras}] @ {wheel.as_uri()}" if extras else f"unimsg @ {wheel.as_uri()}",
        ],
        [python, Path(__file__).resolve(), "check", extras],
    ]
    output: list[str] = []
    for step in steps:
        done = subprocess.run(
            [str(s) for s in step],
            capture_output=True,
            text=True,
            env=_pip_env(),
            cwd=where,  # not the checkout: the installed unimsg must be the one imported
        )
        # The machine's pip configuration may name index folders that do not exist.
        noise = "WARNING: Location 'file:"
        text = done.stdout + done.stderr
        output.append("".join(x for x in text.splitlines(True) if noise not in x))
        if done.returncode != 0:
            return label, False, "".join(output), time.monotonic() - started
    return label, True, "".join(output), time.monotonic() - started


def check(extras: str) -> int:
    """Run inside a venv: what ``unimsg[extras]`` promises works, the rest says what it lacks."""
    import unimsg
    from unimsg.testing import FakeNetwork

    wanted = {e for e in extras.split(",") if e}
    problems: list[str] = []
    if Path(unimsg.__file__).resolve().is_relative_to(ROOT / "unimsg"):
        problems.append(f"imported the checkout, not the install: {unimsg.__file__}")
    FakeNetwork().adapter("signal", "signal:+15550000001")
    state = Path(tempfile.mkdtemp())
    for name in ("matrix", "signal"):
        try:
            cls = unimsg.adapter_class(name)
        except unimsg.AdapterNotFoundError as exc:
            if name in wanted:
                problems.append(f"unimsg[{name}] installed but the adapter fails: {exc}")
            elif not any(d in str(exc) for d in DISTRIBUTIONS[name]):
                problems.append(f"the error does not name the missing distribution: {exc}")
            elif f"unimsg[{name}]" not in str(exc):
                problems.append(f"the error does not say how to install it: {exc}")
            continue
        if name not in wanted:
            # Another extra may legitimately bring this one's dependencies along.
            continue
        if name == "matrix":
            cls(
                homeserver="https://matrix.example.org",
                user_id="@bot:example.org",
                password="not-used",
                store_path=state / "matrix",
            )
        else:
            cls.create("+15550000001", "tcp://127.0.0.1:7583")
    problems.extend(_check_postgres("postgres" in wanted))
    for package in ("unimsg", "unimsg_matrix", "unimsg_signal"):
        spec = importlib.util.find_spec(package)
        origin = spec.origin if spec is not None else None
        if origin is None or not (Path(origin).parent / "py.typed").exists():
            problems.append(f"{package} ships no py.typed")
    listed = subprocess.run(
        [str(Path(sys.executable).parent / "unimsg"), "adapters"],
        capture_output=True,
        text=True,
    )
    print(listed.stdout, end="")
    if listed.returncode != 0:
        problems.append(f"`unimsg adapters` failed: {listed.stderr.strip()}")
    lines = {line.split()[0]: line for line in listed.stdout.splitlines() if line.strip()}
    for name in ("fake", "matrix", "signal"):
        line = lines.get(name, "")
        promised = name == "fake" or name in wanted
        if promised and " usable" not in line:
            problems.append(f"`unimsg adapters` does not call {name} usable: {line!r}")
        if not promised and "unusable" in line and "unimsg[" not in line:
            problems.append(f"`unimsg adapters` does not say how to get {name}: {line!r}")
    # The demo program travels inside the wheel; it needs nothing but unimsg itself.
    demo = subprocess.run(
        [str(Path(sys.executable).parent / "unimsg"), "demo"], capture_output=True, text=True
    )
    if demo.returncode != 0 or "done:" not in demo.stdout:
        problems.append(f"`unimsg demo` failed: {(demo.stderr or demo.stdout).strip()[-300:]}")
    for problem in problems:
        print(f"PROBLEM: {problem}")
    return 1 if problems else 0


def _check_postgres(wanted: bool) -> list[str]:
    """The PostgreSQL store: usable with its extra, else opening it names the extra."""
    import anyio

    import unimsg

    # Nothing listens on port 1: with the driver installed, opening fails to connect.
    store = unimsg.PostgresStore("postgresql://unimsg@127.0.0.1:1/unimsg", reconnect_timeout=0.5)
    try:
        anyio.run(store.open)
    except unimsg.AdapterNotFoundError as exc:
        if wanted:
            return [f"unimsg[postgres] installed but its driver is missing: {exc}"]
        if "unimsg[postgres]" not in str(exc):
            return [f"the PostgreSQL store does not say how to install it: {exc}"]
    except unimsg.ConnectError:
        if not wanted:
            # Another extra may legitimately bring the driver along; nothing to check.
            return []
    except unimsg.UnimsgError as exc:
        return [f"opening a PostgreSQL store failed unexpectedly: {type(exc).__name__}: {exc}"]
    else:
        return ["a PostgreSQL store opened with nothing listening"]
    return []


def main() -> int:
    parser = argparse.ArgumentParser(prog="scripts/install_matrix.py")
    sub = parser.add_subparsers(dest="command")
    inner = sub.add_parser("check", help="(run inside an install) check it")
    inner.add_argument("extras", nargs="?", default="")
    parser.add_argument("--wheel", type=Path, help="an already built wheel")
    args = parser.parse_args()
    if args.command == "check":
        return check(args.extras)
    started = time.monotonic()
    CACHE.mkdir(exist_ok=True)
    where = Path(tempfile.mkdtemp(prefix="install-matrix-", dir=CACHE))
    try:
        wheel = args.wheel or build_wheel(where)
        say(f"built {wheel.name} in {time.monotonic() - started:.1f}s")
        with ThreadPoolExecutor(max_workers=len(VARIANTS)) as pool:
            results = list(pool.map(lambda e: install_and_check(wheel, e, where), VARIANTS))
    finally:
        shutil.rmtree(where, ignore_errors=True)
    failed = 0
    for label, ok, output, seconds in results:
        say(f"{label}: {'ok' if ok else 'FAILED'} ({seconds:.1f}s)")
        if not ok:
            failed += 1
            print(output, flush=True)
        else:
            for line in output.splitlines():
                if line.strip():
                    print(f"    {line}")
    say(f"{len(VARIANTS) - failed} passed, {failed} failed in {time.monotonic() - started:.1f}s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
