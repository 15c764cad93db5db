import pytest

import unimsg
from unimsg.testing import FakeNetwork
from unimsg.testing._waiting import EventWaiter


def test_fake_network_fixture_is_fresh(fake_network: FakeNetwork) -> None:
    assert fake_network.accounts("signal") == []


@pytest.mark.anyio
async def test_fake_client_factory(fake_client) -> None:  # type: ignore[no-untyped-def]
    async with fake_client("signal:+15550000001") as a, fake_client("signal:+15550000002") as b:
        await a.send("signal:+15550000002", "via the plugin")
        got = await EventWaiter(b, timeout=2).next(unimsg.MessageReceived)
        assert got.text == "via the plugin"
