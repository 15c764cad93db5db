"""The conformance kit on the fake network, for each network it imitates."""

import pytest

from unimsg import Adapter
from unimsg.testing import AdapterConformance, ConformancePair, FakeNetwork

ACCOUNTS = {
    "signal": ("signal:+15550000001", "signal:+15550000002", "signal:+15559999999"),
    "matrix": ("matrix:@a:fake.test", "matrix:@b:fake.test", "matrix:@nobody:fake.test"),
    "xmpp": ("xmpp:a@fake.test", "xmpp:b@fake.test", "xmpp:nobody@fake.test"),
}


class TestFakeConformance(AdapterConformance):
    @pytest.fixture(params=sorted(ACCOUNTS))
    def conformance_pair(self, request: pytest.FixtureRequest) -> ConformancePair:
        network = request.param
        first, second, unknown = ACCOUNTS[network]
        net = FakeNetwork()
        a = net.adapter(network, first)
        b = net.adapter(network, second)

        async def rate_limit() -> None:
            net.faults.rate_limit(a.account, sends=2, retry_after=0.01)

        async def change_identity(adapter: Adapter) -> None:
            net.faults.change_identity(adapter.account)

        return ConformancePair(
            first=a,
            second=b,
            unknown_user=unknown,
            timeout=5,
            reopen=lambda adapter: net.adapter(network, adapter.account),
            inject_rate_limit=rate_limit,
            change_identity=change_identity,
        )
