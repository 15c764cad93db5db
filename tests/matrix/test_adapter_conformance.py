"""The adapter conformance suite against a real Synapse."""

from __future__ import annotations

import pytest

from unimsg.testing import AdapterConformance

from .fixtures_adapter import PairFactory, matrix_pair

__all__ = ["matrix_pair"]


@pytest.mark.asyncio
@pytest.mark.parametrize("check", AdapterConformance.checks(), ids=lambda c: c.__name__)
async def test_conformance(check: object, matrix_pair: PairFactory) -> None:
    await check(AdapterConformance(matrix_pair))  # type: ignore[operator]
