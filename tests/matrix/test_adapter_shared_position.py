"""Two hosts, one account, one shared store: the second resumes where acknowledgements stopped.

Each host has its own device and store_path (its own state file and crypto
store); only the client's store is shared. A fresh store_path alone would start from
"now" and see none of the messages below, so receiving exactly the
unacknowledged and the new ones shows the position came from the store.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import anyio
import pytest
from unimsg_matrix import MatrixAdapter

from unimsg import Client, Event, MessageReceived, SqliteStore, Store

from .fixtures_adapter import MakeAdapter, MakeUser, adapter_for, make_adapter, store_root

__all__ = ["make_adapter", "store_root"]

pytestmark = pytest.mark.asyncio


async def _until(client: Client, text: str, skip_ack: str | None = None) -> list[str]:
    """Messages read up to ``text``; every event is acknowledged except ``skip_ack``."""
    texts: list[str] = []
    with anyio.fail_after(30):
        async for event in client.events(auto_ack=False):
            body = event.text if isinstance(event, MessageReceived) else None
            if body is not None:
                texts.append(body)
            if body is None or body != skip_ack:
                await client.ack(event)
            if body == text:
                return texts
    raise AssertionError("the event stream ended")


async def _quiet(client: Client, seconds: float) -> list[Event]:
    extra: list[Event] = []
    with anyio.move_on_after(seconds):
        async for event in client.events(auto_ack=False):
            if isinstance(event, MessageReceived):
                extra.append(event)
    return extra


@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
async def test_a_second_host_resumes_from_the_shared_store(
    engine: str,
    make_matrix_user: MakeUser,
    make_adapter: MakeAdapter,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    def shared() -> Store | str:
        if engine == "postgres":
            return str(request.getfixturevalue("postgres_url"))
        return SqliteStore(tmp_path / "shared.db")

    alice_user, bob_user = await make_matrix_user(), await make_matrix_user()
    bob = make_adapter(bob_user)
    host_a = adapter_for(alice_user, tmp_path / "host-a")
    tag = uuid.uuid4().hex[:6]
    async with Client(host_a, store=shared()) as a, Client(bob) as b:
        room = await a.create_conversation(
            "matrix", name="shared position", members=[bob.account], encrypted=False
        )
        await b.join(room.address)
        # One sync batch per message, so each acknowledgement moves the position.
        for i in range(3):
            await b.send(room.address, f"{tag} acked {i}")
            await _until(a, f"{tag} acked {i}")
        await b.send(room.address, f"{tag} unacked")
        await _until(a, f"{tag} unacked", skip_ack=f"{tag} unacked")
    state = json.loads((tmp_path / "host-a" / "state.json").read_text())
    assert state["sync_token"] is None, "the position stayed in host A's own directory"
    async with Client(bob) as b:
        for i in range(3):
            await b.send(room.address, f"{tag} meanwhile {i}")
    # A host has its own device: a device's keys live in one crypto store only.
    host_b = MatrixAdapter(
        homeserver=alice_user.homeserver,
        user_id=alice_user.user_id,
        password=alice_user.password,
        store_path=tmp_path / "host-b",
        sync_timeout_ms=10_000,
        cross_signing=False,
    )
    async with Client(host_b, store=shared()) as a2:
        seen = await _until(a2, f"{tag} meanwhile 2")
        seen += [e.text for e in await _quiet(a2, 1.0) if isinstance(e, MessageReceived)]
        assert host_b.device_id != host_a.config.device_id
    assert seen == [f"{tag} unacked", *(f"{tag} meanwhile {i}" for i in range(3))]
