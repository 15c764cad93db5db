"""Typed errors for bad input, rate limits and retried sends, against Synapse."""

from __future__ import annotations

import logging
import uuid

import pytest

from unimsg import (
    Address,
    Client,
    Content,
    InvalidContentError,
    MessageReceived,
    NotFoundError,
    NotSupportedError,
    OutgoingMessage,
    PermissionDeniedError,
)
from unimsg.testing._waiting import EventWaiter

from .fixtures_adapter import MakeAdapter, MakeUser, make_adapter, store_root, unknown_user
from .synapse import SynapseInstance

__all__ = ["make_adapter", "store_root"]

pytestmark = pytest.mark.asyncio


async def test_bad_addresses_and_content_give_typed_errors(
    synapse: SynapseInstance, make_matrix_user: MakeUser, make_adapter: MakeAdapter
) -> None:
    alice_user, bob_user = await make_matrix_user(), await make_matrix_user()
    alice = make_adapter(alice_user)
    async with Client(alice) as a:
        with pytest.raises(NotFoundError):
            await a.send(f"matrix:!doesnotexist:{synapse.server_name}", "hello?")
        with pytest.raises(NotFoundError):
            await a.send(f"matrix:#nowhere{uuid.uuid4().hex[:6]}:{synapse.server_name}", "x")
        with pytest.raises(NotFoundError):
            await a.send(unknown_user(synapse), "anyone?")
        with pytest.raises(NotFoundError):
            await a.join(f"matrix:!doesnotexist:{synapse.server_name}")
        with pytest.raises(NotSupportedError):
            await alice.send(
                OutgoingMessage(
                    to=Address.signal("+15551234567"),
                    content=Content(text="x"),
                    idempotency_key="w",
                )
            )

        room = await a.create_conversation("matrix", name="limits", encrypted=False)
        with pytest.raises(InvalidContentError):
            await a.send(room.address, "x" * 70_000)
        with pytest.raises(InvalidContentError):
            await a.send(bob_user_address(bob_user.user_id), "é" * 40_000)
        fits = await a.send(room.address, "y" * 60_000)
        assert fits.id

        with pytest.raises(NotSupportedError):
            await a.set_disappearing(room.address, None)

        other = await a.create_conversation("matrix", name="theirs", encrypted=False)
        await a.leave(other.address)
        with pytest.raises(NotFoundError):
            await a.send(other.address, "gone")


def bob_user_address(user_id: str) -> Address:
    return Address.matrix(user_id)


async def test_permission_denied_is_typed(
    make_matrix_user: MakeUser, make_adapter: MakeAdapter
) -> None:
    alice_user, bob_user = await make_matrix_user(), await make_matrix_user()
    alice, bob = make_adapter(alice_user), make_adapter(bob_user)
    async with Client(alice) as a, Client(bob) as b:
        room = await a.create_conversation(
            "matrix", name="perm", members=[bob.account], encrypted=False
        )
        await b.join(room.address)
        sent = await a.send(room.address, "mine")
        got = await EventWaiter(b, 15).next(MessageReceived, lambda e: e.text == "mine")
        assert got.id == sent.id
        # Bob is no moderator: Synapse refuses to let him redact alice's message.
        with pytest.raises(PermissionDeniedError):
            await b.delete(got)


async def test_retried_send_with_same_key_is_one_event(
    make_matrix_user: MakeUser, make_adapter: MakeAdapter
) -> None:
    alice_user, bob_user = await make_matrix_user(), await make_matrix_user()
    alice, bob = make_adapter(alice_user), make_adapter(bob_user)
    async with Client(alice) as a, Client(bob) as b:
        room = await a.create_conversation(
            "matrix", name="txn", members=[bob.account], encrypted=True
        )
        await b.join(room.address)
        message = OutgoingMessage(
            to=room.address, content=Content(text="exactly once"), idempotency_key="k-1"
        )
        first = await alice.send(message)
        # Even with another body, Synapse keeps the first event of a transaction id.
        again = await alice.send(
            OutgoingMessage(to=room.address, content=Content(text="changed"), idempotency_key="k-1")
        )
        assert again.id == first.id
        inbox = EventWaiter(b, 15)
        got = await inbox.next(MessageReceived, lambda e: e.text in ("exactly once", "changed"))
        assert got.text == "exactly once"
        await inbox.none(MessageReceived, within=1.0)


async def test_rate_limited_burst_loses_and_duplicates_nothing(
    synapse_stock: SynapseInstance,
    make_matrix_user: MakeUser,
    make_adapter: MakeAdapter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="unimsg")
    alice_user = await make_matrix_user(instance=synapse_stock)
    bob_user = await make_matrix_user(instance=synapse_stock)
    alice, bob = make_adapter(alice_user), make_adapter(bob_user)
    async with Client(alice, rate_limit_budget=60) as a, Client(bob) as b:
        room = await a.create_conversation(
            "matrix", name="burst", members=[bob.account], encrypted=False
        )
        await b.join(room.address)
        # Stock Synapse allows a burst of 10 messages, then one per 5 s.
        texts = [f"burst {i}" for i in range(11)]
        sent = [await a.send(room.address, text) for text in texts]
        assert len({s.id for s in sent}) == len(texts)
        assert any("rate limited" in r.getMessage() for r in caplog.records), "never limited"
        inbox = EventWaiter(b, 30)
        seen = [
            (await inbox.next(MessageReceived, lambda e: e.text.startswith("burst "))).text
            for _ in texts
        ]
        assert seen == texts
        await inbox.none(MessageReceived, within=1.0)
