"""Run throwaway PostgreSQL servers on loopback for the PostgreSQL store's tests.

    python3 scripts/postgres.py install
    python3 scripts/postgres.py start [--name N] [--port P]
    python3 scripts/postgres.py stop [--name N | --all]
    python3 scripts/postgres.py status

Each instance lives in .postgres/<name>: a fresh data directory made by initdb, a
random password in ``password`` (mode 0600) and ``instance.json`` with the port and the
URL (which never holds the password). Instances pick free ports, so several run side by
side. PostgreSQL refuses to run as root: as root, the server runs as the unprivileged
``postgres`` user (Debian's package creates it), else ``nobody``.
Stdlib only: this runs before any project dependency is installed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".postgres"
USER = "unimsg"
DATABASE = "unimsg"
START_TIMEOUT = 30.0


class PostgresError(RuntimeError):
    pass


def log(msg: str) -> None:
    print(f"postgres: {msg}", flush=True)


def _run(*cmd: str | Path, check: bool = True, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in cmd], check=check, text=True, **kwargs)


# ---------------------------------------------------------------------------------------------
# finding and installing the server


def bindir() -> Path | None:
    """The directory holding initdb, pg_ctl and postgres, newest version first."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    return versions[-1].parent if versions else None


def install() -> Path:
    found = bindir()
    if found is not None:
        log(f"server binaries in {found}")
        return found
    if os.geteuid() != 0:
        raise PostgresError(
            "no PostgreSQL server binaries (initdb, pg_ctl) on PATH or in /usr/lib/postgresql; "
            "install them (Debian: apt-get install postgresql) or run this as root"
        )
    log("installing Debian's postgresql package")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    _run("apt-get", "update", "-q", env=env, stdout=subprocess.DEVNULL)
    _run("apt-get", "install", "-y", "-q", "postgresql", env=env, stdout=subprocess.DEVNULL)
    # Debian's package starts a cluster of its own on 5432; these tests never use it.
    found = bindir()
    if found is None:
        raise PostgresError("apt-get installed postgresql but no initdb was found")
    return found


def _server_user() -> pwd.struct_passwd | None:
    """Whom the server runs as: ``None`` for the current user, unless that is root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise PostgresError("running as root and neither a 'postgres' nor a 'nobody' user exists")


def _as_server_user(user: pwd.struct_passwd | None, *cmd: str | Path) -> list[str]:
    if user is None:
        return [str(c) for c in cmd]
    return ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups",
            *(str(c) for c in cmd)]  # fmt: skip


# ---------------------------------------------------------------------------------------------
# instances


def instance_dir(name: str) -> Path:
    if not name.replace("-", "").replace("_", "").isalnum():
        raise PostgresError(f"instance names are letters, digits, - and _: {name!r}")
    return CACHE / name


def read_instance(name: str) -> dict[str, Any] | None:
    path = instance_dir(name) / "instance.json"
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _write_private(path: Path, text: str, owner: pwd.struct_passwd | None = None) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    if owner is not None:
        os.chown(tmp, owner.pw_uid, owner.pw_gid)
    os.replace(tmp, path)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _running(data: dict[str, Any]) -> bool:
    pid = int(data.get("pid", 0))
    if pid <= 0 or not _pid_alive(pid):
        return False
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", data["port"]), 1):
        return True
    return False


def _ready(port: int, deadline: float, proc: subprocess.Popen[str]) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise PostgresError(f"the server exited with {proc.returncode}; see its log")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            # Accepting connections is not yet accepting logins; pg_isready knows.
            tools = bindir()
            probe = tools / "pg_isready" if tools else None
            if probe is None or not probe.exists():
                return
            ok = _run(probe, "-q", "-h", "127.0.0.1", "-p", str(port), check=False)
            if ok.returncode == 0:
                return
        time.sleep(0.1)
    raise PostgresError(f"the server did not accept connections on port {port} in time")


def _launch(
    tools: Path, user: pwd.struct_passwd | None, data_dir: Path, port: int, log_file: Path
) -> subprocess.Popen[str]:
    log_fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    if user is not None:
        os.chown(log_file, user.pw_uid, user.pw_gid)
    server = _as_server_user(
        user, tools / "postgres", "-D", data_dir, "-p", str(port),
        "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={data_dir}",
        "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
        "-c", "max_connections=200", "-c", "shared_buffers=32MB",
    )  # fmt: skip
    proc = subprocess.Popen(
        server, stdout=log_fd, stderr=log_fd, stdin=subprocess.DEVNULL, start_new_session=True
    )
    os.close(log_fd)
    _ready(port, time.monotonic() + START_TIMEOUT, proc)
    return proc


def _halt(pid: int) -> None:
    if pid > 0 and _pid_alive(pid):
        # SIGINT is PostgreSQL's fast shutdown: sessions are ended, nothing is left behind.
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGINT)
        deadline = time.monotonic() + 20
        while _pid_alive(pid) and time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.05)
        if _pid_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def halt(name: str) -> None:
    """Stop the server and keep its data, to bring it back with `resume` (fault tests)."""
    data = read_instance(name)
    if data is None:
        raise PostgresError(f"no instance {name}")
    _halt(int(data.get("pid", 0)))


def resume(name: str) -> dict[str, Any]:
    """Start a halted instance again: same port, same data, same password."""
    data = read_instance(name)
    tools = bindir()
    if data is None or tools is None:
        raise PostgresError(f"no instance {name} to resume")
    proc = _launch(
        tools, _server_user(), Path(data["data_dir"]), int(data["port"]), Path(data["log"])
    )
    data["pid"] = proc.pid
    _write_private(instance_dir(name) / "instance.json", json.dumps(data, indent=2) + "\n")
    return data


def start(name: str, port: int | None = None) -> dict[str, Any]:
    data = read_instance(name)
    if data is not None and _running(data):
        log(f"{name} already running on port {data['port']}")
        return data
    tools = install()
    user = _server_user()
    idir = instance_dir(name)
    if idir.exists():
        shutil.rmtree(idir)
    idir.mkdir(parents=True, mode=0o700)
    data_dir = idir / "data"
    password = secrets.token_urlsafe(24)
    password_file = idir / "password"
    _write_private(password_file, password + "\n")
    # initdb reads the password from a file the server user can read; removed right after.
    pwfile = idir / "initdb-password"
    _write_private(pwfile, password + "\n", owner=user)
    if user is not None:
        # The server user must reach its data directory below a root-owned tree.
        os.chmod(idir, 0o711)
        for parent in idir.parents:
            if parent == Path("/"):
                break
            mode = parent.stat().st_mode
            if not mode & 0o001:
                os.chmod(parent, mode | 0o001)
        data_dir.mkdir(mode=0o700)
        os.chown(data_dir, user.pw_uid, user.pw_gid)
    initdb = _as_server_user(
        user, tools / "initdb", "-D", data_dir, "-U", USER, f"--pwfile={pwfile}",
        "--auth=scram-sha-256", "--encoding=UTF8", "--locale=C", "--no-sync",
    )  # fmt: skip
    out = _run(*initdb, check=False, capture_output=True)
    pwfile.unlink()
    if out.returncode != 0:
        raise PostgresError(f"initdb failed: {out.stderr.strip() or out.stdout.strip()}")
    port = port or _free_port()
    proc = _launch(tools, user, data_dir, port, idir / "server.log")
    # The test database, owned by the test user.
    createdb = _as_server_user(
        user, tools / "createdb", "-h", "127.0.0.1", "-p", str(port), "-U", USER, DATABASE
    )
    made = _run(
        *createdb, check=False, capture_output=True, env={**os.environ, "PGPASSWORD": password}
    )
    if made.returncode != 0:
        proc.terminate()
        raise PostgresError(f"createdb failed: {made.stderr.strip()}")
    data = {
        "name": name,
        "pid": proc.pid,
        "port": port,
        "url": f"postgresql://{USER}@127.0.0.1:{port}/{DATABASE}",
        "password_file": str(password_file),
        "data_dir": str(data_dir),
        "log": str(idir / "server.log"),
    }
    _write_private(idir / "instance.json", json.dumps(data, indent=2) + "\n")
    log(f"{name} running on port {port} (pid {proc.pid})")
    return data


def stop(name: str) -> None:
    data = read_instance(name)
    if data is None:
        return
    _halt(int(data.get("pid", 0)))
    shutil.rmtree(instance_dir(name), ignore_errors=True)
    log(f"{name} stopped")


def names() -> list[str]:
    return sorted(p.name for p in CACHE.iterdir() if p.is_dir()) if CACHE.is_dir() else []


def status() -> int:
    for name in names():
        data = read_instance(name)
        state = "running" if data and _running(data) else "stopped"
        where = f" port {data['port']} {data['url']}" if data else ""
        print(f"{name}: {state}{where}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("install")
    p_start = sub.add_parser("start")
    p_start.add_argument("--name", default="test")
    p_start.add_argument("--port", type=int)
    p_stop = sub.add_parser("stop")
    p_stop.add_argument("--name", default="test")
    p_stop.add_argument("--all", action="store_true")
    sub.add_parser("status")
    args = parser.parse_args(argv)
    try:
        if args.command == "install":
            install()
        elif args.command == "start":
            start(args.name, args.port)
        elif args.command == "stop":
            for name in names() if args.all else [args.name]:
                stop(name)
        else:
            return status()
    except (PostgresError, subprocess.CalledProcessError) as exc:
        print(f"postgres: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
