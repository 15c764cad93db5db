from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from unimsg.testing import AdapterConformance, ConformancePair, FakeNetwork

ACCOUNTS = {
    "signal": ("signal:+15550000001", "signal:+15550000002", "signal:+15559999999"),
    "matrix": ("matrix:@a:fake.test", "matrix:@b:fake.test", "matrix:@nobody:fake.test"),
}


def suite(network: str) -> AdapterConformance:
    first, second, unknown = ACCOUNTS[network]

    @asynccontextmanager
    async def make_pair() -> AsyncIterator[ConformancePair]:
        net = FakeNetwork()
        a = net.adapter(network, first)
        b = net.adapter(network, second)

        async def rate_limit() -> None:
            net.faults.rate_limit(a.account, sends=2, retry_after=0.01)

        yield ConformancePair(
            first=a, second=b, unknown_user=unknown, inject_rate_limit=rate_limit, timeout=5
        )

    return AdapterConformance(make_pair)


@pytest.mark.anyio
@pytest.mark.parametrize("network", sorted(ACCOUNTS))
@pytest.mark.parametrize("check", AdapterConformance.checks(), ids=lambda c: c.__name__)
async def test_fake_adapter_conforms(network: str, check) -> None:  # type: ignore[no-untyped-def]
    await check(suite(network))
