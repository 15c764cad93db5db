"""Errors the real daemon produces reach the application typed and explained."""

from __future__ import annotations

import uuid
from typing import Any

import anyio
import pytest
from unimsg_signal import SignalAdapter

from unimsg import Address, Client, NotFoundError, UnknownIdentityError, UsageError

from .conftest import ALICE, DAVE
from .daemon import RealDaemon, StdioHome

pytestmark = pytest.mark.anyio
FAST: dict[str, Any] = {
    "min_backoff": 0.05,
    "max_backoff": 0.5,
    "request_timeout": 30.0,
    "connect_timeout": 60.0,
}
#: signal-cli 0.13.19 sends the event stream's headers with its first keep-alive, after 15 s.
FIRST_KEEPALIVE = 15.0


async def test_multi_account_daemon_without_multi_account_is_refused(
    multi_daemon: RealDaemon,
) -> None:
    adapter = SignalAdapter.create(ALICE, multi_daemon.url("tcp"), give_up_after=5.0, **FAST)
    with pytest.raises(UsageError, match="set multi_account = true"):
        async with Client(adapter):
            pass


async def test_stdio_child_reason_is_reported(stdio_home: StdioHome) -> None:
    nobody = "+15550009999"
    url = stdio_home.url(nobody)
    adapter = SignalAdapter.create(nobody, url, give_up_after=5.0, **FAST)
    with pytest.raises(NotFoundError, match=rf"User \{nobody} is not registered\."):
        async with Client(adapter):
            pass


async def test_trust_without_a_known_identity_is_typed(multi_daemon: RealDaemon) -> None:
    adapter = SignalAdapter.create(ALICE, multi_daemon.url("tcp"), multi_account=True, **FAST)
    async with Client(adapter) as client:
        with pytest.raises(UnknownIdentityError, match="no identity key"):
            await client.trust(Address.signal(str(uuid.uuid4())))


async def test_http_start_does_not_wait_for_the_first_keepalive(
    multi_daemon: RealDaemon,
) -> None:
    adapter = SignalAdapter.create(ALICE, multi_daemon.url("http"), multi_account=True, **FAST)
    # Generous for a loaded machine, but below the keep-alive a waiting start would need.
    with anyio.fail_after(FIRST_KEEPALIVE - 3):
        async with Client(adapter):
            pass


async def test_stdio_account_served(stdio_home: StdioHome) -> None:
    adapter = SignalAdapter.create(DAVE, stdio_home.url(DAVE), **FAST)
    async with Client(adapter) as client:
        assert isinstance(await client.conversations(), list)
