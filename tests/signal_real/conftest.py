"""Session-wide real signal-cli daemons: Java starts once per test run, not once per test.

``empty_daemon`` has no account (what works without the Signal service). The others load
registered accounts offline through the service stand-in (tests/signal_real/standin.py):
``multi_daemon`` serves ALICE and BOB in multi-account mode, ``single_daemon`` serves CAROL
with ``-a``, and ``stdio_home`` is a data dir with DAVE for ``signal-cli -a DAVE jsonRpc``
children (one JVM per connection).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from .accounts import OfflineAccount, RemoteUser, introduce, write_accounts
from .daemon import RealDaemon, StdioHome, control, require_install, start_daemon
from .standin import StandIn

ALICE, BOB, CAROL, DAVE = "+15550000001", "+15550000002", "+15550000003", "+15550000004"


@pytest.fixture
def anyio_backend() -> str:
    # One backend: the adapter's trio support is proven against the emulator (tests/signal);
    # here every test pays real JVM round trips, and stdio ones a JVM start.
    return "asyncio"


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
    """A multi-account daemon with no account at all."""
    daemon = start_daemon("empty", real_state_dir)
    try:
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture(scope="session")
def standin(real_state_dir: Path) -> Iterator[StandIn]:
    install = require_install()
    bcprov = next((control().DIST / "lib").glob("bcprov-*.jar"))
    workdir = real_state_dir / "standin"
    workdir.mkdir()
    service = StandIn(workdir, install["java"], bcprov).start()
    try:
        yield service
    finally:
        service.close()


def _loaded(
    standin: StandIn, state_dir: Path, name: str, numbers: list[str], single: bool
) -> tuple[RealDaemon, dict[str, OfflineAccount]]:
    config = state_dir / f"{name}-data"
    accounts = write_accounts(config, numbers)
    standin.add_accounts(accounts)
    daemon = start_daemon(
        name,
        state_dir,
        account=numbers[0] if single else None,
        config=config,
        java_opts=standin.java_opts,
        classpath_prefix=[str(standin.overlay)],
    )
    return daemon, {a.number: a for a in accounts}


@pytest.fixture(scope="session")
def multi_daemon(standin: StandIn, real_state_dir: Path) -> Iterator[RealDaemon]:
    daemon, accounts = _loaded(standin, real_state_dir, "multi", [ALICE, BOB], single=False)
    daemon.accounts = accounts
    # ALICE and BOB write to each other by number, which needs no contact discovery now.
    introduce(daemon.config, list(accounts.values()))
    try:
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture(scope="session")
def single_daemon(standin: StandIn, real_state_dir: Path) -> Iterator[RealDaemon]:
    daemon, accounts = _loaded(standin, real_state_dir, "single", [CAROL], single=True)
    daemon.accounts = accounts
    try:
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture(scope="session")
def stdio_home(standin: StandIn, real_state_dir: Path) -> StdioHome:
    config = real_state_dir / "stdio-data"
    accounts = write_accounts(config, [DAVE])
    standin.add_accounts(accounts)
    return StdioHome(
        config=config,
        accounts={a.number: a for a in accounts},
        java_opts=standin.java_opts,
        classpath_prefix=[str(standin.overlay)],
    )


@pytest.fixture
def peer(standin: StandIn) -> RemoteUser:
    """A registered user the service knows (profile and identity key), served by no daemon."""
    return standin.add_user()
