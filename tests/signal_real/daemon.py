"""Real signal-cli daemons started through scripts/signal_cli.py, for the real-daemon tier."""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import pytest

from .accounts import OfflineAccount

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "signal_cli.py"
INSTALL_HINT = "python3 scripts/signal_cli.py install"
Transport = Literal["tcp", "unix", "http", "stdio"]
TRANSPORTS: tuple[Transport, ...] = ("tcp", "unix", "http", "stdio")

_module: ModuleType | None = None


def control() -> ModuleType:
    """scripts/signal_cli.py, loaded by path since scripts/ is not a package."""
    global _module
    if _module is None:
        spec = importlib.util.spec_from_file_location("signal_cli_control", SCRIPT)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        _module = module
    return _module


def require_install() -> dict[str, Any]:
    """The signal-cli install; skip without it, but fail under CI."""
    data: dict[str, Any] | None = control().load_install()
    if data is not None:
        return data
    if os.environ.get("CI"):
        # A skipped real-daemon tier in CI would pass while testing nothing.
        pytest.fail(f"signal-cli is required in CI: run `{INSTALL_HINT}` first", pytrace=False)
    pytest.skip(f"signal-cli is not installed: run `{INSTALL_HINT}`")


@dataclass
class RealDaemon:
    """One running ``signal-cli daemon`` (TCP, HTTP and UNIX socket at once)."""

    name: str
    state_dir: Path
    info: dict[str, Any]
    #: JVM options and class-path entries every child (stdio) of this daemon needs too.
    java_opts: list[str] = field(default_factory=list)
    classpath_prefix: list[str] = field(default_factory=list)
    #: The accounts loaded offline, by number (see standin.py).
    accounts: dict[str, OfflineAccount] = field(default_factory=dict)

    @property
    def account(self) -> str | None:
        return self.info["account"]  # type: ignore[no-any-return]

    @property
    def config(self) -> Path:
        return Path(self.info["config"])

    @property
    def pid(self) -> int:
        return int(self.info["pid"])

    def url(self, transport: Transport, account: str | None = None) -> str:
        """The adapter's ``url`` for this daemon; ``stdio`` runs ``-a ACCOUNT jsonRpc``."""
        if transport == "tcp":
            return str(self.info["tcp"])
        if transport == "unix":
            return f"unix://{self.info['socket']}"
        if transport == "http":
            return str(self.info["http"])
        number = account or self.account
        assert number, "stdio needs an account"
        return "stdio:" + shlex.join(self.stdio_command(number))

    def stdio_command(self, account: str, *extra: str) -> list[str]:
        return stdio_command(self.config, account, self.java_opts, self.classpath_prefix, *extra)

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        control().kill(self.name, self.state_dir)

    def restart(self) -> None:
        """Start again on the same ports, socket and data (after `kill`)."""
        self.info = control().restart(self.name, self.state_dir)

    def stop(self) -> None:
        control().stop(self.name, self.state_dir)


def stdio_command(
    config: Path, account: str, java_opts: list[str], classpath_prefix: list[str], *extra: str
) -> list[str]:
    """``signal-cli --config CONFIG -a ACCOUNT jsonRpc`` (through scripts/signal_cli.py run)."""
    cmd = [sys.executable, str(SCRIPT), "run", "--config", str(config)]
    for opt in java_opts:
        cmd.append(f"--java-opt={opt}")
    for entry in classpath_prefix:
        cmd += ["--classpath-prefix", entry]
    return [*cmd, "--", "-a", account, "jsonRpc", "--receive-mode", "manual", *extra]


@dataclass
class StdioHome:
    """A data dir whose accounts run as ``jsonRpc`` children, one JVM per connection."""

    config: Path
    accounts: dict[str, OfflineAccount]
    java_opts: list[str]
    classpath_prefix: list[str]

    def url(self, account: str, *extra: str) -> str:
        command = stdio_command(self.config, account, self.java_opts, self.classpath_prefix, *extra)
        return "stdio:" + shlex.join(command)


def start_daemon(
    name: str,
    state_dir: Path,
    *,
    account: str | None = None,
    config: Path | None = None,
    receive_mode: str = "manual",
    java_opts: list[str] | None = None,
    classpath_prefix: list[str] | None = None,
    verbose: bool = False,
) -> RealDaemon:
    """Start ``signal-cli daemon`` (see scripts/signal_cli.py ``start``)."""
    info = control().start(
        name,
        account=account,
        config=config,
        state_dir=state_dir,
        receive_mode=receive_mode,
        java_opts=java_opts,
        classpath_prefix=classpath_prefix,
        verbose=verbose,
    )
    return RealDaemon(name, state_dir, info, list(java_opts or []), list(classpath_prefix or []))


def rpc(daemon: RealDaemon, method: str, params: dict[str, Any] | None = None) -> Any:
    """One JSON-RPC call over the daemon's HTTP endpoint: the answer object, as sent."""
    body = {"jsonrpc": "2.0", "id": 1, "method": method}
    if params is not None:
        body["params"] = params
    request = urllib.request.Request(
        f"{daemon.info['http']}/api/v1/rpc",
        json.dumps(body).encode(),
        {"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())
