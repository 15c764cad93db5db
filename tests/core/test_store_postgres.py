"""The PostgreSQL store: the store contract, its schema and its typed errors."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

import unimsg
from unimsg import OutboxEntry, PostgresStore, Store

from ..conftest import PostgresServer
from .store_contract import Opener, StoreContract

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]


@pytest.fixture
def anyio_backend() -> str:
    # psycopg's async driver runs on asyncio only.
    return "asyncio"


class TestPostgresStore(StoreContract):
    @pytest.fixture
    def backend(self, postgres_url: str) -> Opener:
        async def open_() -> Store:
            store = PostgresStore(postgres_url)
            await store.open()
            return store

        return open_


async def test_the_schema_version_is_recorded_and_a_newer_one_refused(
    postgres_url: str, postgres_server: PostgresServer
) -> None:
    async with PostgresStore(postgres_url) as store:
        await store.put("sync", "s1")
    with psycopg.connect(postgres_url, password=postgres_server.password) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(2,)]
        conn.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(unimsg.StoreVersionError, match=r"newer unimsg \(schema 99"):
        await PostgresStore(postgres_url).open()
    with psycopg.connect(postgres_url, password=postgres_server.password) as conn:
        assert conn.execute("SELECT value FROM kv").fetchall() == [("s1",)]


async def test_two_stores_opening_one_database_at_once_upgrade_it_once(
    postgres_url: str,
) -> None:
    import anyio

    stores = [PostgresStore(postgres_url) for _ in range(4)]
    async with anyio.create_task_group() as tg:
        for store in stores:
            tg.start_soon(store.open)
    try:
        await stores[0].outbox_add(OutboxEntry(key="k", lane="l", payload="p"))
        assert await stores[3].outbox_size() == 1
    finally:
        for store in stores:
            await store.close()


@pytest.fixture
def password_env(postgres_server: PostgresServer) -> Iterator[str]:
    os.environ["UNIMSG_TEST_PG_PASSWORD"] = postgres_server.password
    yield "UNIMSG_TEST_PG_PASSWORD"
    os.environ.pop("UNIMSG_TEST_PG_PASSWORD", None)


async def test_the_password_comes_from_the_named_variable(
    postgres_server: PostgresServer, password_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PGPASSWORD", raising=False)
    async with PostgresStore(postgres_server.url, password_env=password_env) as store:
        await store.put("x", "1")
    monkeypatch.setenv(password_env, "wrong-password-123")
    store = PostgresStore(postgres_server.url, password_env=password_env)
    with pytest.raises(unimsg.AuthenticationError, match="refused the password") as info:
        await store.open()
    assert "wrong-password-123" not in str(info.value)
    assert "wrong-password-123" not in repr(store)
    monkeypatch.delenv(password_env)
    with pytest.raises(unimsg.InvalidArgumentError, match="UNIMSG_TEST_PG_PASSWORD is not set"):
        await PostgresStore(postgres_server.url, password_env=password_env).open()


def test_a_password_in_the_url_is_refused_without_echoing_it() -> None:
    with pytest.raises(unimsg.InvalidArgumentError, match="holds a password") as info:
        PostgresStore("postgresql://me:hunter2secret@db.example/unimsg")
    assert "hunter2secret" not in str(info.value)
    with pytest.raises(ValueError, match=r"starts with postgresql://"):
        PostgresStore("mysql://me@db.example/unimsg")


async def test_an_unreachable_server_is_a_connect_error(
    postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    monkeypatch.delenv("PGPASSWORD", raising=False)
    with pytest.raises(unimsg.AuthenticationError, match="asks for a password"):
        await PostgresStore(postgres_server.url).open()
    monkeypatch.setenv("PGPASSWORD", postgres_server.password)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(unimsg.ConnectError, match="cannot reach the store"):
        await PostgresStore(f"postgresql://unimsg@127.0.0.1:{port}/unimsg").open()
    with pytest.raises(unimsg.ConnectError, match="does not exist"):
        await PostgresStore(postgres_server.url.rsplit("/", 1)[0] + "/nosuchdb").open()


async def test_a_closed_store_says_so(postgres_url: str) -> None:
    store = PostgresStore(postgres_url)
    with pytest.raises(unimsg.ClosedError, match="not open"):
        await store.get("x")


async def test_the_cli_says_which_process_reads_and_the_outbox_depth(
    postgres_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    import anyio.to_thread

    from unimsg._cli import main

    async with PostgresStore(postgres_url) as store:
        await store.outbox_add(OutboxEntry(key="k", lane="l", payload="p"))
        assert await store.lease("reader:signal:+15550000001", "host-a:41:x", 30)
    config = tmp_path / "unimsg.toml"
    config.write_text(
        '[[adapters]]\ntype = "fake"\naccount = "signal:+15550000001"\n'
        f'[client]\nstore = "{postgres_url}"\n'
    )
    # The CLI runs its own event loop: from a worker thread, as from a shell.
    assert await anyio.to_thread.run_sync(main, ["status", "--config", str(config)]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["outbox_depth"] == 1
    [reader] = status["readers"]
    assert reader["lease"] == "reader:signal:+15550000001"
    assert reader["active"] == "host-a:41:x" and 0 < reader["expires_in"] <= 30
