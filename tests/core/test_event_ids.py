"""The fake network redelivers an unacknowledged event under the same id."""

import pytest

from unimsg import Client, MessageReceived
from unimsg._health import event_key
from unimsg.testing import FakeNetwork

pytestmark = pytest.mark.anyio


async def _next_message(client: Client) -> MessageReceived:
    async for event in client.events(auto_ack=False):
        if isinstance(event, MessageReceived):
            return event
    raise AssertionError("the client closed before a message came")


async def test_a_redelivered_event_keeps_its_key() -> None:
    net = FakeNetwork()
    async with Client(net.adapter("signal", "signal:+15550000001")) as alice:
        async with Client(net.adapter("signal", "signal:+15550000002")) as bob:
            await alice.send("signal:+15550000002", "hi")
            first = await _next_message(bob)
        # Not acknowledged: the next run of the same account gets it again.
        async with Client(net.adapter("signal", "signal:+15550000002")) as bob:
            again = await _next_message(bob)
    assert again.text == "hi"
    assert event_key(again) == event_key(first)
