"""The adapter conformance suite against emulated signal-cli daemons, per transport."""

from __future__ import annotations

from typing import Any

import pytest
from adapter_fixtures import TRANSPORTS, pair_factory

from unimsg.testing import AdapterConformance

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("check", AdapterConformance.checks(), ids=lambda c: c.__name__)
async def test_conformance(check: Any, transport: str) -> None:
    await check(AdapterConformance(pair_factory(transport)))
