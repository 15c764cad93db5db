import stat
from pathlib import Path

import anyio
import pytest

import unimsg
from unimsg import Client, SqliteStore
from unimsg.testing import EventWaiter, FakeNetwork

pytestmark = pytest.mark.anyio


def test_sqlite_store_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "state" / "unimsg.db"
    store = SqliteStore(path)
    store.remember("k")
    store.put("sync", "s1")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for side in path.parent.iterdir():
        assert stat.S_IMODE(side.stat().st_mode) == 0o600, side
    store.close()
    again = SqliteStore(path)
    assert again.seen("k") and not again.seen("other")
    assert again.get("sync") == "s1"
    again.put("sync", None)
    assert again.get("sync") is None
    again.close()


async def test_handled_events_are_not_redelivered_after_restart(tmp_path: Path) -> None:
    net = FakeNetwork()
    a = net.adapter("signal", "signal:+15550000001")
    net.adapter("signal", "signal:+15550000002")
    db = tmp_path / "client.db"
    async with Client(a) as sender:
        await sender.send("signal:+15550000002", "one")
        # The network forgets what was acknowledged only if the adapter says
        # so; simulate a server that replays everything after a restart.
        async with Client(net.adapter("signal", "signal:+15550000002"), store=db) as b:
            got = await EventWaiter(b, timeout=2).next(unimsg.MessageReceived)
            await b.ack(got)
        net.account("signal:+15550000002").position = 0
        await sender.send("signal:+15550000002", "two")
        async with Client(net.adapter("signal", "signal:+15550000002"), store=db) as b:
            got = await EventWaiter(b, timeout=2).next(unimsg.MessageReceived)
            assert got.text == "two"


async def test_health_reports_state_events_and_backlog() -> None:
    net = FakeNetwork()
    a = net.adapter("signal", "signal:+15550000001")
    b = net.adapter("signal", "signal:+15550000002")
    client = Client(b)
    assert client.health()["signal:+15550000002"].state is unimsg.ConnectionState.DISCONNECTED
    async with Client(a) as ca, client:
        await ca.send(b.account, "x")
        await ca.send(b.account, "y")
        for _ in range(200):
            if client.health()["signal:+15550000002"].backlog >= 2:
                break
            await anyio.sleep(0.01)
        await EventWaiter(client, timeout=2).next(unimsg.MessageReceived)
        health = client.health()["signal:+15550000002"]
        assert health.state is unimsg.ConnectionState.CONNECTED
        assert health.events == 2 and health.last_event is not None
        assert health.backlog == 1
    assert client.health()["signal:+15550000002"].state is unimsg.ConnectionState.DISCONNECTED
