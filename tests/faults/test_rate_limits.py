"""Scenario 4: a burst of 500 sends into a homeserver that enforces rate limits.

Stock Synapse allows 10 messages then one per 5 s, which would make 500 sends
take 40 minutes; the sender gets a per-user override (Synapse's own admin API,
the same limiter and the same 429 answers) of 10 messages a second, bursts
of 10, instead: below what Synapse serves, so the limiter sets the pace. Half
the burst goes through the durable outbox, half through concurrent
``client.send`` calls waiting limits out within the client's budget. The
receiver counts: all delivered, none twice, outbox order kept.
"""

from __future__ import annotations

import collections
import logging
import time
from pathlib import Path
from urllib.parse import quote

import anyio
import httpx
import pytest

from tests.matrix.fixtures_adapter import adapter_for
from tests.matrix.synapse import MakeUser, RegisteredUser, SynapseInstance
from unimsg import Client, MessageReceived

from ._matrix import join, server_counts
from .conftest import Figures

pytestmark = pytest.mark.asyncio

OUTBOX, DIRECT, WORKERS = 250, 250, 8
RATE, BURST = 10, 10


async def limit_messages(instance: SynapseInstance, admin: RegisteredUser, user_id: str) -> None:
    async with httpx.AsyncClient(base_url=instance.url, timeout=30) as http:
        resp = await http.post(
            f"/_synapse/admin/v1/users/{quote(user_id)}/override_ratelimit",
            headers={"Authorization": f"Bearer {admin.access_token}"},
            json={"messages_per_second": RATE, "burst_count": BURST},
        )
    resp.raise_for_status()


async def test_rate_limited_burst_of_500(
    synapse_stock: SynapseInstance,
    make_matrix_user: MakeUser,
    tmp_path: Path,
    figures: Figures,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="unimsg")
    admin = await make_matrix_user(synapse_stock, admin=True)
    sender_user = await make_matrix_user(synapse_stock)
    receiver_user = await make_matrix_user(synapse_stock)
    await limit_messages(synapse_stock, admin, sender_user.user_id)
    sender = adapter_for(sender_user, tmp_path / "sender")
    receiver = adapter_for(receiver_user, tmp_path / "receiver")
    texts = [f"q{i}" for i in range(OUTBOX)] + [f"d{i}" for i in range(DIRECT)]
    received: collections.Counter[str] = collections.Counter()
    outbox_order: list[int] = []
    all_in = anyio.Event()
    async with (
        Client(sender, store=tmp_path / "sender.db", rate_limit_budget=120) as s,
        Client(receiver) as r,
        anyio.create_task_group() as tg,
    ):
        room = await s.create_conversation(
            "matrix", name="burst", members=[receiver.account], encrypted=False
        )
        await join(receiver_user, room.address.id)

        async def receive() -> None:
            async for event in r.events():
                if isinstance(event, MessageReceived) and event.text[:1] in ("q", "d"):
                    received[event.text] += 1
                    if event.text[0] == "q":
                        outbox_order.append(int(event.text[1:]))
                    if len(received) == len(texts):
                        all_in.set()

        tg.start_soon(receive)
        started = time.monotonic()
        queued = [await s.enqueue(room.address, f"q{i}") for i in range(OUTBOX)]
        direct = iter(range(DIRECT))

        async def worker() -> None:
            for i in direct:
                await s.send(room.address, f"d{i}")

        async with anyio.create_task_group() as senders:
            for _ in range(WORKERS):
                senders.start_soon(worker)
        with anyio.fail_after(180):
            for q in queued:
                await q.delivered()
            await all_in.wait()
        elapsed = time.monotonic() - started
        await anyio.sleep(1.5)
        tg.cancel_scope.cancel()

    on_server = await server_counts(receiver_user, room.address.id, "")
    on_server = collections.Counter({k: v for k, v in on_server.items() if k in set(texts)})
    messages = [r.getMessage() for r in caplog.records]
    limited = sum("rate limited" in m for m in messages)
    limited += sum("outbox send" in m and "RateLimitedError" in m for m in messages)
    figures(
        "4 rate-limited burst of 500 (Matrix, Synapse limiter)",
        sent=len(texts),
        delivered=len(received),
        duplicated=sum(received.values()) - len(received),
        lost=len(texts) - len(received),
        rate_limited_answers=limited,
        duplicated_on_server=sum(on_server.values()) - len(on_server),
        limit=f"{RATE}/s burst {BURST}",
        seconds=round(elapsed, 1),
    )
    assert set(received) == set(texts)
    assert set(received.values()) == {1}
    assert outbox_order == list(range(OUTBOX)), "the outbox reordered a conversation"
    assert len(on_server) == len(texts) and set(on_server.values()) == {1}
    assert limited > 0, "the homeserver never rate limited the burst"
