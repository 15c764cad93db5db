"""Session-wide real signal-cli daemons: Java starts once per test run, not once per test.

``empty_daemon`` has no account (what works without the Signal service). The others load
registered accounts offline through the service stand-in (tests/signal_real/standin.py):
``multi_daemon`` serves ALICE and BOB in multi-account mode, ``single_daemon`` serves CAROL
with ``-a``, ``stdio_home`` is a data dir with DAVE for ``signal-cli -a DAVE jsonRpc``
children (one JVM per connection), and ``load_daemon`` starts more (another receive mode,
one account in multi-account mode...). ``standin`` pushes envelopes and relays messages
between all these accounts; ``peer`` is a registered user no daemon serves.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .accounts import RemoteUser, introduce, write_accounts
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


LoadDaemon = Callable[..., RealDaemon]


@pytest.fixture(scope="session")
def load_daemon(standin: StandIn, real_state_dir: Path) -> Iterator[LoadDaemon]:
    """Start a daemon whose accounts (``numbers``) load offline through the stand-in.

    ``load_daemon(name, numbers, single=False, receive_mode="manual")``: multi-account unless
    ``single``; the accounts know each other's numbers. Stopped at the end of the session.
    """
    started: list[RealDaemon] = []

    def load(
        name: str, numbers: list[str], *, single: bool = False, receive_mode: str = "manual"
    ) -> RealDaemon:
        config = real_state_dir / f"{name}-data"
        accounts = write_accounts(config, numbers)
        standin.add_accounts(accounts)
        daemon = start_daemon(
            name,
            real_state_dir,
            account=numbers[0] if single else None,
            config=config,
            receive_mode=receive_mode,
            java_opts=standin.java_opts,
            classpath_prefix=[str(standin.overlay)],
        )
        started.append(daemon)
        daemon.accounts = {a.number: a for a in accounts}
        if len(accounts) > 1:
            # They write to each other by number, which then needs no contact discovery.
            introduce(config, accounts)
        return daemon

    try:
        yield load
    finally:
        for daemon in started:
            daemon.stop()


@pytest.fixture(scope="session")
def multi_daemon(load_daemon: LoadDaemon) -> RealDaemon:
    return load_daemon("multi", [ALICE, BOB])


@pytest.fixture(scope="session")
def single_daemon(load_daemon: LoadDaemon) -> RealDaemon:
    return load_daemon("single", [CAROL], single=True)


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
