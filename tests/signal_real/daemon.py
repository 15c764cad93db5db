"""Real signal-cli daemons started through scripts/signal_cli.py, for the real-daemon tier."""

from __future__ import annotations

import importlib.util
import os
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import pytest

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
        cmd = [sys.executable, str(SCRIPT), "run", "--config", str(self.config)]
        for opt in self.java_opts:
            cmd.append(f"--java-opt={opt}")
        for entry in self.classpath_prefix:
            cmd += ["--classpath-prefix", entry]
        return [*cmd, "--", "-a", account, "jsonRpc", "--receive-mode", "manual", *extra]

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        control().kill(self.name, self.state_dir)

    def restart(self) -> None:
        """Start again on the same ports, socket and data (after `kill`)."""
        self.info = control().restart(self.name, self.state_dir)

    def stop(self) -> None:
        control().stop(self.name, self.state_dir)


def start_daemon(
    name: str,
    state_dir: Path,
    *,
    account: str | None = None,
    config: Path | None = None,
    receive_mode: str = "manual",
    java_opts: list[str] | None = None,
    classpath_prefix: list[str] | None = None,
) -> RealDaemon:
    info = control().start(
        name,
        account=account,
        config=config,
        state_dir=state_dir,
        receive_mode=receive_mode,
        java_opts=java_opts,
        classpath_prefix=classpath_prefix,
    )
    return RealDaemon(name, state_dir, info, list(java_opts or []), list(classpath_prefix or []))
