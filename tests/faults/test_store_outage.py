"""The PostgreSQL store while its server goes away: backoff, reconnect, nothing lost."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest

import unimsg
from tests.conftest import _script
from unimsg import OutboxEntry, PostgresStore

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.postgres,
    pytest.mark.parametrize("anyio_backend", ["asyncio"]),
]


@pytest.fixture(scope="module")
def own_server(postgres_server: object) -> Iterator[tuple[Any, dict[str, Any]]]:
    """A server of this test's own, which it may stop and start again."""
    script = _script()
    name = f"outage-{os.getpid()}"
    info = script.start(name)
    info["name"] = name
    old = os.environ.get("PGPASSWORD")
    os.environ["PGPASSWORD"] = Path(info["password_file"]).read_text().strip()
    try:
        yield script, info
    finally:
        script.stop(name)
        if old is None:
            os.environ.pop("PGPASSWORD", None)
        else:
            os.environ["PGPASSWORD"] = old


async def test_operations_wait_out_a_restart_and_lose_nothing(
    own_server: tuple[Any, dict[str, Any]],
) -> None:
    script, info = own_server
    async with PostgresStore(info["url"], reconnect_timeout=60) as store:
        await store.outbox_add(OutboxEntry(key="before", lane="l", payload="p"))
        await store.put("sync", "s1")
        await anyio.to_thread.run_sync(script.halt, info["name"])
        # Issued while the server is down: each waits with backoff, none fails.
        async with anyio.create_task_group() as tg:
            tg.start_soon(store.outbox_add, OutboxEntry(key="during", lane="l", payload="p"))
            tg.start_soon(store.remember, ["event-1"])
            await anyio.sleep(1.0)
            await anyio.to_thread.run_sync(script.resume, info["name"])
        assert [e.key for e in await store.outbox_pending()] == ["before", "during"]
        assert await store.seen(["event-1"]) == {"event-1"}
        assert await store.get("sync") == "s1"


async def test_a_server_away_too_long_is_a_connect_error(
    own_server: tuple[Any, dict[str, Any]],
) -> None:
    script, info = own_server
    async with PostgresStore(info["url"], reconnect_timeout=1.0) as store:
        await store.put("kept", "yes")
        await anyio.to_thread.run_sync(script.halt, info["name"])
        with pytest.raises(unimsg.ConnectError, match="unreachable") as caught:
            await store.get("sync")
        assert os.environ["PGPASSWORD"] not in str(caught.value)
        await anyio.to_thread.run_sync(script.resume, info["name"])
        assert await store.get("kept") == "yes"
