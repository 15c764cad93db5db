"""Session-wide real signal-cli daemons: Java starts once per test run, not once per test."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from .daemon import RealDaemon, require_install, start_daemon


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def real_state_dir() -> Iterator[Path]:
    """Where this run's daemons keep their data; short, since UNIX socket paths are limited."""
    require_install()
    path = Path(tempfile.mkdtemp(prefix="sigreal"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def empty_daemon(real_state_dir: Path) -> Iterator[RealDaemon]:
    """A multi-account daemon with no account at all: what works without the Signal service."""
    daemon = start_daemon("empty", real_state_dir)
    try:
        yield daemon
    finally:
        daemon.stop()
