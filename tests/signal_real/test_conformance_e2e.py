"""The adapter conformance kit between two real daemons' accounts.

ALICE and BOB are both served by real signal-cli over TCP; the service stand-in only stores
their uploaded pre-keys and relays ciphertext, so libsignal in the daemons does the encryption.
"""

from __future__ import annotations

from typing import Any

import pytest
from unimsg_signal import SignalAdapter

from unimsg import Adapter
from unimsg.testing import AdapterConformance, ConformancePair

from .conftest import ALICE, BOB
from .daemon import RealDaemon

FAST: dict[str, Any] = {
    "min_backoff": 0.05,
    "max_backoff": 0.5,
    "request_timeout": 30.0,
    "connect_timeout": 60.0,
}


class TestRealSignalConformance(AdapterConformance):
    @pytest.fixture
    def anyio_backend(self) -> str:
        return "asyncio"

    @pytest.fixture
    def conformance_pair(self, multi_daemon: RealDaemon) -> ConformancePair:
        url = multi_daemon.url("tcp")

        def make(number: str) -> SignalAdapter:
            return SignalAdapter.create(number, url, multi_account=True, **FAST)

        def reopen(adapter: Adapter) -> Adapter:
            return make(adapter.account.id)

        return ConformancePair(
            first=make(ALICE),
            second=make(BOB),
            unknown_user="signal:+15550009999",
            timeout=30.0,
            reopen=reopen,
        )

    @pytest.mark.xfail(
        strict=True,
        reason="signal-cli 0.13.19 fails 1:1 typing without sealed-sender access "
        "(SendHelper.sendTypingMessage: List.of(null)); the stand-in cannot grant it",
    )
    async def test_typing(self, conformance_pair: ConformancePair) -> None:
        await super().test_typing(conformance_pair)

    @pytest.mark.skip(reason="joins right after creating; the invitation is still on its way")
    async def test_membership(self, conformance_pair: ConformancePair) -> None:
        await super().test_membership(conformance_pair)

    @pytest.mark.xfail(
        strict=True,
        reason="no groups v2 service in the stand-in: 0.13.19 makes v1 groups locally, and a "
        "member's leave never reaches the creator as a membership change",
    )
    async def test_leave_and_invite(self, conformance_pair: ConformancePair) -> None:
        await super().test_leave_and_invite(conformance_pair)

    @pytest.mark.xfail(strict=True, reason="the stand-in has no attachment CDN (upload form 404)")
    async def test_attachment_download(self, conformance_pair: ConformancePair) -> None:
        await super().test_attachment_download(conformance_pair)
