"""Run throwaway Synapse homeservers on loopback for the Matrix adapter's tests.

    python3 scripts/synapse.py install
    python3 scripts/synapse.py start [--profile relaxed|stock|faults] [--port N] [--keep-data]
    python3 scripts/synapse.py stop [--profile P | --all]
    python3 scripts/synapse.py kill --profile P
    python3 scripts/synapse.py restart --profile P [--keep-data]
    python3 scripts/synapse.py status

Synapse lives in its own venv under .cache/synapse/venv so that its pinned dependencies never
mix with the project's. Each profile has its own directory, port, database and secret:
``relaxed`` lifts every rate limit, ``stock`` keeps Synapse's defaults for rate-limit tests,
``faults`` is configured like ``relaxed`` but is the one the fault-injection suite (tests/faults)
kills and restarts, so that no other test run loses its server.
Stdlib only: this runs before any project dependency is installed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

SYNAPSE_VERSION = "1.163.2"
ROOT = Path(__file__).resolve().parent.parent
# Resolved: .cache may be a link to a cache shared by several checkouts.
CACHE = (ROOT / ".cache").resolve() / "synapse"
VENV = CACHE / "venv"
VENV_PYTHON = VENV / "bin" / "python"
PROFILES = {"relaxed": 18008, "stock": 18009, "faults": 18010}
#: Profiles whose rate limits are lifted.
RELAXED_PROFILES = frozenset({"relaxed", "faults"})
SERVER_NAME = "localhost"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0

# Far above anything a test suite does, yet finite: Synapse rejects some zero/negative values.
_RELAXED_RATE = {"per_second": 100000, "burst_count": 1000000}
RELAXED_RATE_LIMITS: dict[str, Any] = {
    "rc_message": _RELAXED_RATE,
    "rc_registration": _RELAXED_RATE,
    "rc_registration_token_validity": _RELAXED_RATE,
    "rc_login": {
        "address": _RELAXED_RATE,
        "account": _RELAXED_RATE,
        "failed_attempts": _RELAXED_RATE,
    },
    "rc_admin_redaction": _RELAXED_RATE,
    "rc_joins": {"local": _RELAXED_RATE, "remote": _RELAXED_RATE},
    "rc_joins_per_room": _RELAXED_RATE,
    "rc_3pid_validation": _RELAXED_RATE,
    "rc_invites": {
        "per_room": _RELAXED_RATE,
        "per_user": _RELAXED_RATE,
        "per_issuer": _RELAXED_RATE,
    },
    "rc_third_party_invite": _RELAXED_RATE,
    "rc_room_creation": _RELAXED_RATE,
    "rc_key_requests": _RELAXED_RATE,
    "rc_presence": {"per_user": _RELAXED_RATE},
    "rc_delayed_event_mgmt": _RELAXED_RATE,
    "rc_reports": _RELAXED_RATE,
    "rc_media_create": _RELAXED_RATE,
    "rc_user_directory": _RELAXED_RATE,
    "rc_profile": _RELAXED_RATE,
    "rc_federation": {
        "window_size": 1000,
        "sleep_limit": 100000,
        "sleep_delay": 1,
        "reject_limit": 100000,
        "concurrent": 100000,
    },
}


class SynapseError(RuntimeError):
    pass


def log(msg: str) -> None:
    print(f"synapse: {msg}", flush=True)


def profile_dir(profile: str) -> Path:
    if profile not in PROFILES:
        raise SynapseError(f"unknown profile {profile!r} (choose from {', '.join(PROFILES)})")
    return CACHE / profile


def instance_path(profile: str) -> Path:
    return profile_dir(profile) / "instance.json"


def _write_private(path: Path, text: str) -> None:
    # Created 0600 from the start and swapped in atomically so no reader sees half a file.
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------
# install


def _run(*cmd: str | Path, check: bool = False, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    # Every command here is built from constants and paths below the repo root.
    return subprocess.run([str(c) for c in cmd], check=check, text=True, **kwargs)


def installed_version() -> str | None:
    if not VENV_PYTHON.exists():
        return None
    probe = "import importlib.metadata as m; print(m.version('matrix-synapse'))"
    result = _run(VENV_PYTHON, "-c", probe, capture_output=True)
    return result.stdout.strip() if result.returncode == 0 else None


def install() -> None:
    if installed_version() == SYNAPSE_VERSION:
        log(f"matrix-synapse {SYNAPSE_VERSION} already installed in {VENV}")
        return
    started = time.monotonic()
    if not VENV_PYTHON.exists():
        log(f"creating venv {VENV}")
        _run(sys.executable, "-m", "venv", VENV, check=True)
    log(f"installing matrix-synapse=={SYNAPSE_VERSION}")
    pip = (VENV_PYTHON, "-m", "pip", "install", "--quiet")
    _run(*pip, f"matrix-synapse=={SYNAPSE_VERSION}", check=True)
    log(f"installed in {time.monotonic() - started:.0f} s")


# ---------------------------------------------------------------------------------------------
# config


def _shared_secret(pdir: Path) -> str:
    path = pdir / "registration_shared_secret"
    if not path.exists():
        _write_private(path, secrets.token_urlsafe(48))
    return path.read_text().strip()


def write_config(profile: str, port: int) -> Path:
    """Write the profile's homeserver.yaml (as JSON, which YAML parsers accept)."""
    pdir = profile_dir(profile)
    pdir.mkdir(parents=True, exist_ok=True)
    pdir.chmod(0o700)  # the database holds access tokens
    _shared_secret(pdir)
    log_config = {
        "version": 1,
        "formatters": {
            "precise": {
                "format": "%(asctime)s - %(name)s - %(lineno)d - %(levelname)s"
                " - %(request)s - %(message)s"
            }
        },
        "filters": {"context": {"()": "synapse.logging.context.LoggingContextFilter"}},
        "handlers": {
            "file": {
                "class": "logging.FileHandler",
                "formatter": "precise",
                "filters": ["context"],
                "filename": str(pdir / "homeserver.log"),
                "encoding": "utf8",
            }
        },
        "loggers": {
            # Every SQL statement at INFO would drown the log.
            "synapse.storage.SQL": {"level": "WARNING"},
            "twisted": {"level": "WARNING"},
        },
        "root": {"level": "INFO", "handlers": ["file"]},
        "disable_existing_loggers": False,
    }
    _write_private(pdir / "log_config.yaml", json.dumps(log_config, indent=2) + "\n")
    config: dict[str, Any] = {
        "server_name": SERVER_NAME,
        "public_baseurl": f"http://127.0.0.1:{port}/",
        "pid_file": str(pdir / "homeserver.pid"),
        "listeners": [
            {
                "port": port,
                "bind_addresses": ["127.0.0.1"],
                "type": "http",
                "tls": False,
                "x_forwarded": False,
                "resources": [{"names": ["client"], "compress": False}],
            }
        ],
        "database": {"name": "sqlite3", "args": {"database": str(pdir / "homeserver.db")}},
        "log_config": str(pdir / "log_config.yaml"),
        "media_store_path": str(pdir / "media_store"),
        "signing_key_path": str(pdir / "signing.key"),
        "registration_shared_secret_path": str(pdir / "registration_shared_secret"),
        "enable_registration": False,
        "report_stats": False,
        "trusted_key_servers": [],
        "suppress_key_server_warning": True,
        "federation_domain_whitelist": [],
        "url_preview_enabled": False,
        "enable_metrics": False,
        "user_directory": {"enabled": True, "search_all_users": True},
    }
    if profile in RELAXED_PROFILES:
        config.update(RELAXED_RATE_LIMITS)
    path = pdir / "homeserver.yaml"
    _write_private(path, json.dumps(config, indent=2) + "\n")
    return path


def _synapse(config: Path, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    homeserver = (VENV_PYTHON, "-m", "synapse.app.homeserver", "-c", config)
    return _run(*homeserver, *args, cwd=config.parent, **kwargs)


# ---------------------------------------------------------------------------------------------
# processes


def _alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # in case the server is this process's child
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (macOS): kill(pid, 0) is all we can know
    # A killed server that init has not reaped yet is a zombie: gone, and its port is free.
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _is_our_server(pid: int, profile: str) -> bool:
    """Guard against signalling an unrelated process that reused a stale pid."""
    if not Path("/proc/self").exists():
        return True
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    config = str(profile_dir(profile) / "homeserver.yaml").encode()
    return config in cmdline


def _read_pid(profile: str) -> int | None:
    pid_file = profile_dir(profile) / "homeserver.pid"
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) and _is_our_server(pid, profile) else None


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # As Twisted does; without it, connections in TIME_WAIT from the previous run count.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _versions_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_matrix/client/versions", timeout=2) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _log_tail(profile: str, lines: int = 40) -> str:
    pdir = profile_dir(profile)
    out = []
    for name in ("console.log", "homeserver.log"):
        path = pdir / name
        if path.exists() and path.stat().st_size:
            tail = path.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {path} (last {len(tail)} lines)\n" + "\n".join(tail))
    return "\n".join(out) or "(no log written)"


def _wipe_data(pdir: Path) -> None:
    for db_file in pdir.glob("homeserver.db*"):
        db_file.unlink()
    shutil.rmtree(pdir / "media_store", ignore_errors=True)
    (pdir / "homeserver.log").unlink(missing_ok=True)


def _listening(log_file: Path, offset: int, port: int) -> bool:
    """Whether this run's log says Synapse bound the port (not some other server on it)."""
    try:
        with open(log_file, "rb") as f:
            f.seek(offset)
            return f"Synapse now listening on TCP port {port}".encode() in f.read()
    except OSError:
        return False


def load_instance(profile: str) -> dict[str, Any] | None:
    try:
        instance: dict[str, Any] = json.loads(instance_path(profile).read_text())
    except (OSError, ValueError):
        return None
    return instance


def start(
    profile: str = "relaxed", port: int | None = None, keep_data: bool = False
) -> dict[str, Any]:
    """Start the profile's server unless it already runs; return its instance info."""
    pdir = profile_dir(profile)
    running = _read_pid(profile)
    if running is not None:
        instance = load_instance(profile)
        if instance is not None and _versions_ok(instance["url"]):
            if port is not None and not instance["url"].endswith(f":{port}"):
                raise SynapseError(f"{profile}: already running at {instance['url']}")
            log(f"{profile}: already running at {instance['url']} (pid {running})")
            return instance
        raise SynapseError(f"{profile}: pid {running} runs but does not answer; stop it first")
    if installed_version() != SYNAPSE_VERSION:
        raise SynapseError(f"matrix-synapse {SYNAPSE_VERSION} is not installed: run `install`")
    port = port or PROFILES[profile]
    if not _port_free(port):
        raise SynapseError(f"{profile}: 127.0.0.1:{port} is already in use")
    instance_path(profile).unlink(missing_ok=True)
    config = write_config(profile, port)
    if not keep_data:
        _wipe_data(pdir)
    if not (pdir / "signing.key").exists():
        result = _synapse(config, "--generate-keys", capture_output=True)
        if result.returncode != 0:
            raise SynapseError(f"{profile}: --generate-keys failed:\n{result.stderr}")

    started = time.monotonic()
    url = f"http://127.0.0.1:{port}"
    (pdir / "homeserver.pid").unlink(missing_ok=True)
    log_file = pdir / "homeserver.log"
    log_offset = log_file.stat().st_size if log_file.exists() else 0
    with open(pdir / "console.log", "w") as console:
        # --daemonize makes Synapse detach itself (and write pid_file), so neither this script
        # nor a test process that calls start() ends up as the long-lived server's parent.
        result = _synapse(
            config, "--daemonize", stdin=subprocess.DEVNULL, stdout=console, stderr=console
        )
    if result.returncode != 0:
        raise SynapseError(f"{profile}: Synapse failed to start\n{_log_tail(profile)}")
    daemonized = time.monotonic()
    pid = None
    while time.monotonic() - started < START_TIMEOUT:
        pid = pid or _read_pid(profile)
        if pid is not None and _listening(log_file, log_offset, port) and _versions_ok(url):
            break
        if pid is not None and not _alive(pid):
            raise SynapseError(f"{profile}: Synapse exited during start-up\n{_log_tail(profile)}")
        if pid is None and time.monotonic() - daemonized > 10:
            # The daemon writes its pid right after forking, so it died almost at once.
            raise SynapseError(f"{profile}: Synapse wrote no pid file\n{_log_tail(profile)}")
        time.sleep(0.1)
    else:
        if pid is not None:
            _terminate(pid)
        raise SynapseError(
            f"{profile}: no answer from {url} within {START_TIMEOUT:.0f} s\n{_log_tail(profile)}"
        )
    instance = {
        "url": url,
        "server_name": SERVER_NAME,
        "registration_shared_secret": _shared_secret(pdir),
        "pid": pid,
    }
    _write_private(instance_path(profile), json.dumps(instance, indent=2) + "\n")
    log(f"{profile}: up at {url} (pid {pid}) in {time.monotonic() - started:.1f} s")
    return instance


def _terminate(pid: int, timeout: float = STOP_TIMEOUT) -> None:
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return
        time.sleep(0.1)
    log(f"pid {pid} ignored SIGTERM for {timeout:.0f} s, sending SIGKILL")
    os.kill(pid, signal.SIGKILL)
    _wait_gone(pid)


def _wait_gone(pid: int) -> None:
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def stop(profile: str) -> None:
    pid = _read_pid(profile)
    if pid is None:
        log(f"{profile}: not running")
    else:
        _terminate(pid)
        log(f"{profile}: stopped (pid {pid})")
    instance_path(profile).unlink(missing_ok=True)


def kill(profile: str) -> None:
    """SIGKILL the server as a crash would, keeping its database for a later restart."""
    pid = _read_pid(profile)
    if pid is None:
        log(f"{profile}: not running")
    else:
        os.kill(pid, signal.SIGKILL)
        _wait_gone(pid)
        log(f"{profile}: killed (pid {pid})")
    instance_path(profile).unlink(missing_ok=True)


def restart(profile: str, keep_data: bool = True, port: int | None = None) -> dict[str, Any]:
    """Stop (if running) and start again on the same port, by default keeping the database."""
    config = profile_dir(profile) / "homeserver.yaml"
    if port is None and config.exists():
        # The config outlives instance.json (removed by kill), so it remembers a --port choice.
        port = json.loads(config.read_text())["listeners"][0]["port"]
    stop(profile)
    return start(profile, port=port, keep_data=keep_data)


def status() -> int:
    """Print one line per profile; return how many are running."""
    running = 0
    for profile in PROFILES:
        pid = _read_pid(profile)
        instance = load_instance(profile)
        if pid is None:
            log(f"{profile}: stopped")
            continue
        running += 1
        url = instance["url"] if instance else "?"
        health = "ok" if instance and _versions_ok(url) else "not answering"
        log(f"{profile}: running at {url} (pid {pid}, {health})")
    return running


# ---------------------------------------------------------------------------------------------
# command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="synapse.py", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("install", help=f"install matrix-synapse {SYNAPSE_VERSION} into its own venv")
    p_start = sub.add_parser("start", help="start a profile's server (no-op if it runs)")
    p_restart = sub.add_parser("restart", help="stop and start a profile's server again")
    for p in (p_start, p_restart):
        p.add_argument("--profile", choices=PROFILES, default="relaxed")
        p.add_argument("--port", type=int, help="default: 18008 relaxed, 18009 stock, 18010 faults")
    p_start.add_argument(
        "--keep-data", action="store_true", help="keep the previous database instead of wiping it"
    )
    p_restart.add_argument(
        "--keep-data",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="keep the database (default) or wipe it",
    )
    p_stop = sub.add_parser("stop", help="stop servers (SIGTERM, then SIGKILL after a timeout)")
    group = p_stop.add_mutually_exclusive_group()
    group.add_argument("--profile", choices=PROFILES, default="relaxed")
    group.add_argument("--all", action="store_true")
    p_kill = sub.add_parser("kill", help="SIGKILL a profile's server, keeping its data")
    p_kill.add_argument("--profile", choices=PROFILES, required=True)
    sub.add_parser("status", help="show which profiles run")
    args = parser.parse_args(argv)

    try:
        if args.command == "install":
            install()
        elif args.command == "start":
            start(args.profile, args.port, args.keep_data)
        elif args.command == "restart":
            restart(args.profile, args.keep_data, args.port)
        elif args.command == "stop":
            for profile in PROFILES if args.all else [args.profile]:
                stop(profile)
        elif args.command == "kill":
            kill(args.profile)
        elif args.command == "status":
            status()
    except (SynapseError, subprocess.CalledProcessError) as exc:
        print(f"synapse: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
