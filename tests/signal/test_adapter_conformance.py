"""The adapter conformance kit against emulated signal-cli daemons, per transport."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from adapter_fixtures import ALICE, BOB, FAST, NOBODY, TRANSPORTS, rig
from unimsg_signal import SignalAdapter
from unimsg_signal.emulator import Failure

from unimsg import Adapter, Address
from unimsg.testing import AdapterConformance, ConformancePair


class TestSignalConformance(AdapterConformance):
    @pytest.fixture(params=TRANSPORTS)
    async def conformance_pair(
        self, request: pytest.FixtureRequest
    ) -> AsyncIterator[ConformancePair]:
        transport: str = request.param
        async with rig(transport) as r:
            await r.serve(ALICE)
            await r.serve(BOB)
            options: dict[str, Any] = {}
            secrets: list[str] = []
            if transport == "http":
                token = f"tok-{uuid.uuid4().hex}"
                options["http_token"] = token
                secrets.append(token)

            def make(number: str) -> SignalAdapter:
                return SignalAdapter.create(number, r.urls[number], **{**FAST, **options})

            def reopen(adapter: Adapter) -> Adapter:
                return make(adapter.account.id)

            async def inject_rate_limit() -> None:
                r.network.faults.fail_recipient(BOB, Failure.RATE_LIMIT, retry_after=0)

            async def change_identity(adapter: Adapter) -> None:
                r.network.change_identity(adapter.account.id)

            async def inject_garbled(adapter: Adapter, conversation: Address) -> None:
                # An envelope signal-cli could never have written: wrong types everywhere.
                r.network.faults.garbled_envelope(
                    adapter.account.id,
                    {"envelope": {"source": 7, "timestamp": "soon", "dataMessage": ["?"]}},
                )

            yield ConformancePair(
                first=make(ALICE),
                second=make(BOB),
                unknown_user=f"signal:{NOBODY}",
                timeout=5.0,
                reopen=reopen,
                inject_rate_limit=inject_rate_limit,
                change_identity=change_identity,
                inject_garbled=inject_garbled,
                secrets=secrets,
            )
