"""What the Signal service pushes reaches the adapter through the real daemon; the adapter
survives the daemon being killed and restarted."""

from __future__ import annotations

import time
from typing import Any

import anyio
import pytest
from unimsg_signal import SignalAdapter

from unimsg import (
    Address,
    Client,
    ConnectionState,
    ConnectionStateChanged,
    RateLimitedError,
    ReceiptReceived,
)
from unimsg.testing import EventWaiter

from .accounts import RemoteUser
from .conftest import ALICE, BOB, CAROL
from .daemon import RealDaemon, Transport
from .standin import StandIn

pytestmark = pytest.mark.anyio
FAST: dict[str, Any] = {
    "min_backoff": 0.05,
    "max_backoff": 0.5,
    "request_timeout": 30.0,
    "connect_timeout": 60.0,
}


@pytest.mark.parametrize("transport", ["tcp", "unix", "http"])
async def test_delivery_receipt_from_the_service(
    multi_daemon: RealDaemon, standin: StandIn, peer: RemoteUser, transport: Transport
) -> None:
    adapter = SignalAdapter.create(ALICE, multi_daemon.url(transport), multi_account=True, **FAST)
    async with Client(adapter) as client:
        inbox = EventWaiter(client, 30)
        sent_at = int(time.time() * 1000) - 5000
        await anyio.to_thread.run_sync(standin.push_delivery_receipt, ALICE, peer.aci, sent_at)
        receipt = await inbox.next(ReceiptReceived)
        assert receipt.sender == Address.signal(peer.aci), receipt
        assert [int(t.id) for t in receipt.targets] == [sent_at], receipt
        assert receipt.account == Address.signal(ALICE)


async def test_reconnect_after_sigkill_and_restart(single_daemon: RealDaemon, peer: Any) -> None:
    adapter = SignalAdapter.create(CAROL, single_daemon.url("tcp"), give_up_after=120.0, **FAST)
    async with Client(adapter) as client:
        states = EventWaiter(client, 120)
        assert isinstance(await client.conversations(), list)
        await anyio.to_thread.run_sync(single_daemon.kill)
        lost = await states.next(ConnectionStateChanged)
        assert lost.state is not ConnectionState.CONNECTED, lost
        await anyio.to_thread.run_sync(single_daemon.restart)
        await states.next(ConnectionStateChanged, lambda e: e.state is ConnectionState.CONNECTED)
        assert isinstance(await client.conversations(), list)


async def test_service_rate_limit_is_typed(multi_daemon: RealDaemon, standin: StandIn) -> None:
    adapter = SignalAdapter.create(ALICE, multi_daemon.url("tcp"), multi_account=True, **FAST)
    standin.fail("/v1/messages/", 429)
    try:
        async with Client(adapter) as client:
            with pytest.raises(RateLimitedError):
                await client.send(Address.signal(BOB), "too fast")
    finally:
        standin.fail("/v1/messages/", None)
