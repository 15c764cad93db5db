"""The Signal adapter against a real multi-account daemon that has no account loaded."""

from __future__ import annotations

from typing import Any

import pytest
from unimsg_signal import SignalAdapter

from unimsg import Client, NotFoundError

from .daemon import RealDaemon, Transport

pytestmark = pytest.mark.anyio
NOBODY = "+15550009999"
FAST: dict[str, Any] = {
    "min_backoff": 0.02,
    "max_backoff": 0.2,
    "request_timeout": 10.0,
    "connect_timeout": 10.0,
}


@pytest.mark.parametrize("transport", ["tcp", "unix", "http"])
async def test_unknown_account_is_not_found(empty_daemon: RealDaemon, transport: Transport) -> None:
    adapter = SignalAdapter.create(
        NOBODY, empty_daemon.url(transport), multi_account=True, give_up_after=2.0, **FAST
    )
    with pytest.raises(NotFoundError, match="does not serve"):
        async with Client(adapter):
            pass
