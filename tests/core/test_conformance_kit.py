"""The conformance kit fails adapters that break their promises."""

import pytest

pytest_plugins = ["pytester"]

BROKEN = '''
import pytest

from unimsg import Adapter
from unimsg.testing import AdapterConformance, ConformancePair, FakeNetwork
from unimsg.testing import FakeMatrixAdapter


class Forgetful(FakeMatrixAdapter):
    """Never commits an acknowledgement: everything comes again after a restart."""

    async def ack(self, event):
        pass


class Lossy(FakeMatrixAdapter):
    """Loses every other event on the way to the application."""

    async def run(self, sink, *, task_status):
        count = 0

        async def dropping(event):
            nonlocal count
            count += 1
            if count % 2 == 0:
                await sink(event)

        await super().run(dropping, task_status=task_status)


class Hasty(FakeMatrixAdapter):
    """Commits each event before the application handled it, yet claims redelivery."""

    async def run(self, sink, *, task_status):
        async def committing(event):
            await self.ack(event)
            await sink(event)

        await super().run(committing, task_status=task_status)


class Broken(AdapterConformance):
    adapter_class = FakeMatrixAdapter

    @pytest.fixture
    def anyio_backend(self):
        return "asyncio"

    @pytest.fixture
    def conformance_pair(self):
        net = FakeNetwork()
        net.adapter("matrix", "matrix:@b:fake.test")

        def make(user):
            return self.adapter_class(net, net.account(user))

        return ConformancePair(
            first=net.adapter("matrix", "matrix:@a:fake.test"),
            second=make("matrix:@b:fake.test"),
            unknown_user="matrix:@nobody:fake.test",
            timeout=0.5,
            reopen=lambda adapter: make(adapter.account),
        )


class TestForgetful(Broken):
    adapter_class = Forgetful


class TestLossy(Broken):
    adapter_class = Lossy


class TestHasty(Broken):
    adapter_class = Hasty
'''


def test_the_kit_fails_broken_adapters(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_broken=BROKEN)
    checks = "send_receive or ordering or across_restart or after_restart"
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", "-k", checks)
    failed = {
        line.split("::")[1] + "::" + line.split("::")[2].split(" ")[0]
        for line in result.outlines
        if line.startswith("FAILED")
    }
    assert "TestForgetful::test_acknowledged_events_stay_acknowledged_across_restart" in failed
    assert "TestLossy::test_send_receive" in failed
    assert "TestLossy::test_ordering" in failed
    assert "TestHasty::test_unacknowledged_events_come_again_after_restart" in failed
    # Each breaks one promise, and the kit blames that one.
    assert {n for n in failed if not n.startswith("TestLossy")} == {
        "TestForgetful::test_acknowledged_events_stay_acknowledged_across_restart",
        "TestHasty::test_unacknowledged_events_come_again_after_restart",
    }, failed
