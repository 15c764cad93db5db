"""The conformance checks that need no message to travel, over the UNIX socket.

test_conformance_e2e.py runs every check over TCP, between two real daemons' accounts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from unimsg_signal import SignalAdapter

from unimsg.testing import AdapterConformance, ConformancePair

from .conftest import ALICE, BOB
from .daemon import RealDaemon, Transport

pytestmark = pytest.mark.anyio
FAST = {"min_backoff": 0.05, "max_backoff": 0.5, "request_timeout": 30.0, "connect_timeout": 60.0}
WITHOUT_SERVICE = ("check_errors_after_close", "check_unknown_recipient")
CHECKS = [c for c in AdapterConformance.checks() if c.__name__ in WITHOUT_SERVICE]


@pytest.mark.parametrize("transport", ["unix"])
@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
async def test_conformance(check: Any, transport: Transport, multi_daemon: RealDaemon) -> None:
    @asynccontextmanager
    async def make_pair() -> AsyncIterator[ConformancePair]:
        url = multi_daemon.url(transport)
        yield ConformancePair(
            first=SignalAdapter.create(ALICE, url, multi_account=True, **FAST),
            second=SignalAdapter.create(BOB, url, multi_account=True, **FAST),
            unknown_user="signal:+15550009999",
            timeout=20.0,
        )

    assert len(CHECKS) == len(WITHOUT_SERVICE)
    await check(AdapterConformance(make_pair))
