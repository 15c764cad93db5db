"""The whole adapter conformance suite between two real daemons' accounts.

ALICE and BOB are both served by real signal-cli; the service stand-in only stores their
uploaded pre-keys and relays ciphertext, so libsignal in the daemons does the encryption.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from unimsg_signal import SignalAdapter

from unimsg.testing import AdapterConformance, ConformancePair

from .conftest import ALICE, BOB
from .daemon import RealDaemon

pytestmark = pytest.mark.anyio
FAST = {"min_backoff": 0.05, "max_backoff": 0.5, "request_timeout": 30.0, "connect_timeout": 60.0}
#: signal-cli 0.13.19 fails a 1:1 typing message with a NullPointerException when it has no
#: sealed-sender access to the recipient (SendHelper.sendTypingMessage: List.of(null)); that
#: access needs a sender certificate under Signal's trust root, which the stand-in cannot sign.
NO_SEALED_SENDER = pytest.mark.xfail(
    strict=True, reason="signal-cli 0.13.19 cannot send typing without sealed-sender access"
)
#: The check joins the group right after its creation; on a real network the invitation is a
#: message still on its way, so the second account may not know the group yet.
RACES_THE_INVITATION = pytest.mark.skip(reason="joins before the group update can arrive")
MARKS = {"check_typing_and_receipts": NO_SEALED_SENDER, "check_membership": RACES_THE_INVITATION}
CHECKS = [
    pytest.param(c, marks=MARKS[c.__name__]) if c.__name__ in MARKS else c
    for c in AdapterConformance.checks()
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
async def test_conformance_real_to_real(check: Any, multi_daemon: RealDaemon) -> None:
    @asynccontextmanager
    async def make_pair() -> AsyncIterator[ConformancePair]:
        url = multi_daemon.url("tcp")
        first = SignalAdapter.create(ALICE, url, multi_account=True, **FAST)
        second = SignalAdapter.create(BOB, url, multi_account=True, **FAST)
        yield ConformancePair(
            first=first,
            second=second,
            unknown_user="signal:+15550009999",
            timeout=30.0,
        )

    await check(AdapterConformance(make_pair))
