import sqlite3
import stat
from pathlib import Path

import anyio
import pytest

import unimsg
from unimsg import Client, MemoryStore, OutboxEntry, SqliteStore, Store
from unimsg.testing import EventWaiter, FakeNetwork

from .store_contract import GROUP, ROOM, Opener, StoreContract, ref

pytestmark = pytest.mark.anyio


class TestMemoryStore(StoreContract):
    persistent = False

    @pytest.fixture
    def backend(self) -> Opener:
        async def open_() -> Store:
            store = MemoryStore()
            await store.open()
            return store

        return open_


class TestSqliteStore(StoreContract):
    @pytest.fixture
    def backend(self, tmp_path: Path) -> Opener:
        async def open_() -> Store:
            store = SqliteStore(tmp_path / "state" / "unimsg.db")
            await store.open()
            return store

        return open_


async def test_sqlite_store_files_are_private(tmp_path: Path) -> None:
    path = tmp_path / "state" / "unimsg.db"
    async with SqliteStore(path) as store:
        await store.remember(["k"])
        await store.put("sync", "s1")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert {p.name for p in path.parent.iterdir()} >= {"unimsg.db", "unimsg.db-wal"}
        for side in path.parent.iterdir():
            assert stat.S_IMODE(side.stat().st_mode) == 0o600, side
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


async def test_a_closed_sqlite_store_says_so(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    with pytest.raises(unimsg.ClosedError, match="not open"):
        await store.get("x")
    async with store:
        await store.put("x", "1")
    with pytest.raises(unimsg.ClosedError):
        await store.get("x")


async def test_sqlite_store_records_its_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    async with SqliteStore(path):
        pass
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT version FROM schema_version").fetchall() == [(2,)]


async def test_a_store_from_a_newer_unimsg_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    async with SqliteStore(path) as store:
        await store.put("sync", "s1")
    with sqlite3.connect(path) as db:
        db.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(unimsg.StoreVersionError, match=r"newer unimsg \(schema 99"):
        await SqliteStore(path).open()
    net = FakeNetwork()
    with pytest.raises(unimsg.StoreVersionError):
        async with Client(net.adapter("signal", "signal:+15550000001"), store=path):
            pass
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT value FROM kv").fetchall() == [("s1",)]


# The tables the first release wrote: the client's state file and a relay's id map file.
FIRST_CLIENT_FILE = """
CREATE TABLE seen (key TEXT PRIMARY KEY, at REAL NOT NULL);
CREATE TABLE kv (name TEXT PRIMARY KEY, value TEXT);
CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT UNIQUE NOT NULL, lane TEXT NOT NULL, payload TEXT NOT NULL);
INSERT INTO seen VALUES ('old-event', strftime('%s','now'));
INSERT INTO kv VALUES ('sync', 's5');
INSERT INTO outbox (key, lane, payload) VALUES ('k2', 'l', 'second'), ('k1', 'l', 'first');
"""
FIRST_RELAY_FILE = """
CREATE TABLE copies (
    relay TEXT NOT NULL,
    origin_conversation TEXT NOT NULL, origin_id TEXT NOT NULL,
    origin_sender TEXT NOT NULL, origin_time TEXT NOT NULL,
    copy_conversation TEXT NOT NULL, copy_id TEXT NOT NULL,
    copy_sender TEXT NOT NULL, copy_time TEXT NOT NULL,
    PRIMARY KEY (relay, origin_conversation, origin_id)
);
CREATE UNIQUE INDEX copies_by_copy ON copies (relay, copy_conversation, copy_id);
CREATE TABLE handled (
    relay TEXT NOT NULL, conversation TEXT NOT NULL, event_id TEXT NOT NULL,
    PRIMARY KEY (relay, conversation, event_id)
);
"""


async def test_a_first_release_client_file_opens_with_everything_kept(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with sqlite3.connect(path) as db:
        db.executescript(FIRST_CLIENT_FILE)
    async with SqliteStore(path) as store:
        assert await store.seen(["old-event", "new"]) == {"old-event"}
        assert await store.get("sync") == "s5"
        assert [e.payload for e in await store.outbox_pending()] == ["second", "first"]
        await store.outbox_add(OutboxEntry(key="k3", lane="l", payload="third"))
        assert [e.key for e in await store.outbox_pending()] == ["k2", "k1", "k3"]


async def test_a_first_release_relay_file_opens_with_its_id_map(tmp_path: Path) -> None:
    path = tmp_path / "relay.db"
    origin, copy = ref(ROOM, "$e1"), ref(GROUP, "c1", "signal:+15550000001")
    with sqlite3.connect(path) as db:
        db.executescript(FIRST_RELAY_FILE)
        db.execute(
            "INSERT INTO copies VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                "ops",
                *(str(origin.conversation), origin.id, str(origin.sender)),
                origin.timestamp.isoformat(),
                *(str(copy.conversation), copy.id, str(copy.sender)),
                copy.timestamp.isoformat(),
            ),
        )
        db.execute("INSERT INTO handled VALUES ('ops', ?, '$reaction')", (ROOM,))
    async with SqliteStore(path) as store:
        assert await store.relay_copy("ops", ROOM, "$e1") == copy
        assert await store.relay_origin("ops", GROUP, "c1") == origin
        # A followed reaction stays followed: it became a handled-event key.
        assert await store.seen([f"relay\x1fops\x1f{ROOM}\x1f$reaction"])
        assert await store.get("sync") is None
        assert await store.outbox_pending() == []
    with sqlite3.connect(path) as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "handled" not in tables


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
