"""Scenario 1: the homeserver is SIGKILLed in the middle of a stream of 1,000 messages.

The sender uses the durable outbox (each send keeps its idempotency key, the
Matrix transaction id, across retries); the receiver's sync fails while the
server is down and resumes from its committed position. Every message must
reach the receiving application exactly once and in order per conversation,
and the server must hold each message exactly once. The stream is spread over
four rooms: the outbox sends to different conversations in parallel, which is
also how it keeps up with a slow homeserver.
"""

from __future__ import annotations

import collections
import logging
import time
from pathlib import Path

import anyio
import pytest

from tests.matrix.fixtures_adapter import adapter_for
from tests.matrix.synapse import MakeUser, SynapseInstance, kill_server, restart_server
from unimsg import Client, ConnectionState, ConnectionStateChanged, MessageReceived

from ._matrix import join, server_counts
from .conftest import Figures

pytestmark = pytest.mark.asyncio

N = 1000
ROOMS = 4
KILL_AFTER = 300


async def test_homeserver_killed_mid_stream(
    faults: SynapseInstance,
    make_matrix_user: MakeUser,
    tmp_path: Path,
    figures: Figures,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="unimsg.outbox")
    sender_user, receiver_user = await make_matrix_user(faults), await make_matrix_user(faults)
    fast = {"max_backoff": 1.0, "request_timeout": 10.0}
    sender = adapter_for(sender_user, tmp_path / "sender", **fast)
    receiver = adapter_for(receiver_user, tmp_path / "receiver", **fast)
    received: dict[int, list[str]] = collections.defaultdict(list)
    arrival: dict[str, list[int]] = collections.defaultdict(list)
    states: list[ConnectionState] = []
    progress = anyio.Event()
    all_in = anyio.Event()
    async with (
        Client(sender, store=tmp_path / "sender.db") as s,
        anyio.create_task_group() as tg,
    ):
        s.outbox.initial_backoff, s.outbox.max_backoff = 0.2, 2.0
        rooms = [
            await s.create_conversation(
                "matrix", name=f"crash {k}", members=[receiver.account], encrypted=False
            )
            for k in range(ROOMS)
        ]
        for room in rooms:
            await join(receiver_user, room.address.id)
        async with Client(receiver) as r:

            async def receive() -> None:
                async for event in r.events():
                    if isinstance(event, ConnectionStateChanged):
                        states.append(event.state)
                    elif isinstance(event, MessageReceived) and event.text.startswith("n"):
                        index = int(event.text[1:])
                        received[index].append(event.id)
                        arrival[event.conversation.id].append(index)
                        if len(received) >= KILL_AFTER:
                            progress.set()
                        if len(received) == N:
                            all_in.set()

            tg.start_soon(receive)
            started = time.monotonic()
            queued = [await s.enqueue(rooms[i % ROOMS].address, f"n{i}") for i in range(N)]
            with anyio.fail_after(60):
                await progress.wait()
            await kill_server("faults")
            killed_at = len(received)
            # Long enough for sends and syncs to fail and back off a few times.
            await anyio.sleep(2.0)
            down_since = time.monotonic()
            await restart_server("faults")
            down_for = time.monotonic() - down_since + 2.0
            with anyio.fail_after(180):
                receipts = [await q.delivered() for q in queued]
                await all_in.wait()
            elapsed = time.monotonic() - started
            # Room for a late duplicate to show up.
            await anyio.sleep(2.0)
            health = r.health()
            tg.cancel_scope.cancel()

    on_server: collections.Counter[str] = collections.Counter()
    for room in rooms:
        on_server += await server_counts(receiver_user, room.address.id, "n")
    retries = sum("outbox send" in rec.getMessage() for rec in caplog.records)
    duplicated = sum(len(ids) - 1 for ids in received.values())
    distinct_ids = {event_id for ids in received.values() for event_id in ids}
    lost = N - len(received)
    figures(
        "1 homeserver SIGKILL mid-stream (Matrix, outbox)",
        sent=N,
        delivered=len(received),
        duplicated=duplicated,
        lost=lost,
        stored_on_server=sum(on_server.values()),
        duplicated_on_server=sum(c - 1 for c in on_server.values()),
        killed_after=killed_at,
        outbox_retries=retries,
        down_seconds=round(down_for, 1),
        conversations=ROOMS,
        seconds=round(elapsed, 1),
    )
    assert lost == 0 and duplicated == 0
    assert sorted(received) == list(range(N))
    for order in arrival.values():
        assert order == sorted(order), "out of order within a conversation"
    assert len(distinct_ids) == N
    # The network itself never stored a retried send twice (same txn id -> same event).
    assert len(on_server) == N and set(on_server.values()) == {1}
    assert {rec.id for rec in receipts} == distinct_ids
    assert retries > 0, "the kill did not hit any send"
    assert ConnectionState.RECONNECTING in states
    assert states[-1] is ConnectionState.CONNECTED
    assert health[f"matrix:{receiver_user.user_id}"].state is ConnectionState.CONNECTED
