"""The behaviour every adapter shares, as checks any adapter can be run through.

Give the suite a factory of `ConformancePair` (two accounts on one network
that can write to each other) and run every check, e.g. with pytest::

    @pytest.mark.parametrize("check", AdapterConformance.checks(), ids=lambda c: c.__name__)
    async def test_conformance(check):
        await check(AdapterConformance(make_pair))
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import attrs

from .._adapter import Adapter, OutgoingMessage
from .._client import Client
from .._events import (
    MessageDeleted,
    MessageEdited,
    MessageReceived,
    ReactionReceived,
    ReceiptReceived,
    TypingChanged,
)
from .._exceptions import (
    ClosedError,
    EncryptionRequiredError,
    NotSupportedError,
    RemoteError,
    UnimsgError,
)
from .._types import Content
from ._waiting import EventWaiter

__all__ = ["AdapterConformance", "ConformancePair"]

Check = Callable[["AdapterConformance"], Awaitable[None]]


@attrs.frozen(kw_only=True)
class ConformancePair:
    """Two fresh accounts on one network.

    ``first`` writes to ``second`` at ``second.account``. ``inject_rate_limit``,
    when the network can be told to, makes ``first``'s next send rate-limited.
    ``unknown_user`` is an address of that network with no account behind it.
    """

    first: Adapter
    second: Adapter
    unknown_user: str
    inject_rate_limit: Callable[[], Awaitable[None]] | None = None
    #: Seconds to wait for an event to arrive.
    timeout: float = 10.0


PairFactory = Callable[[], AbstractAsyncContextManager[ConformancePair]]
_CHECKS: list[Check] = []


def _check(func: Check) -> Check:
    _CHECKS.append(func)
    return func


class AdapterConformance:
    def __init__(self, make_pair: PairFactory) -> None:
        self.make_pair = make_pair

    @staticmethod
    def checks() -> list[Check]:
        return list(_CHECKS)

    async def run_all(self) -> None:
        for check in _CHECKS:
            await check(self)

    @asynccontextmanager
    async def clients(self) -> AsyncIterator[tuple[ConformancePair, Client, Client, EventWaiter]]:
        async with self.make_pair() as pair, Client(pair.first) as a, Client(pair.second) as b:
            yield pair, a, b, EventWaiter(b, pair.timeout)

    # -- the checks ------------------------------------------------------------------

    @_check
    async def check_send_receive(self) -> None:
        async with self.clients() as (pair, a, _b, inbox):
            sent = await a.send(pair.second.account, "hello")
            assert sent.id and sent.timestamp.tzinfo is not None, sent
            got = await inbox.next(MessageReceived, lambda e: e.text == "hello")
            assert got.id == sent.id, (got, sent)
            assert got.sender.network == pair.first.network
            assert got.account == pair.second.account
            assert not got.from_self
            assert "raw" not in repr(got) or got.raw is None

    @_check
    async def check_ordering(self) -> None:
        async with self.clients() as (pair, a, _b, inbox):
            texts = [f"message {i}" for i in range(10)]
            for text in texts:
                await a.send(pair.second.account, text)
            seen = [
                (await inbox.next(MessageReceived, lambda e: e.text.startswith("message "))).text
                for _ in texts
            ]
            assert seen == texts, seen

    @_check
    async def check_reply(self) -> None:
        async with self.clients() as (pair, a, b, inbox):
            sent = await a.send(pair.second.account, "question")
            got = await inbox.next(MessageReceived, lambda e: e.text == "question")
            if not pair.second.capabilities.replies:
                return
            await b.reply(got, "answer")
            answer = await EventWaiter(a, pair.timeout).next(
                MessageReceived, lambda e: e.text.endswith("answer")
            )
            assert answer.reply_to is not None and answer.reply_to.id == sent.id, answer
            assert answer.conversation.network == pair.first.network

    @_check
    async def check_reactions_edits_deletes(self) -> None:
        async with self.clients() as (pair, a, b, inbox):
            sent = await a.send(pair.second.account, "original")
            got = await inbox.next(MessageReceived, lambda e: e.text == "original")
            outbox = EventWaiter(a, pair.timeout)
            caps = pair.first.capabilities
            if pair.second.capabilities.reactions:
                await b.react(got, "👍")
                reaction = await outbox.next(ReactionReceived)
                assert reaction.emoji == "👍" and reaction.target.id == sent.id, reaction
            if caps.edits:
                await a.edit(sent, "changed")
                edit = await inbox.next(MessageEdited)
                assert edit.target.id == sent.id and edit.text == "changed", edit
            if caps.deletes:
                await a.delete(sent)
                deleted = await inbox.next(MessageDeleted)
                assert deleted.target.id == sent.id, deleted

    @_check
    async def check_typing_and_receipts(self) -> None:
        async with self.clients() as (pair, a, b, inbox):
            sent = await a.send(pair.second.account, "read me")
            got = await inbox.next(MessageReceived, lambda e: e.text == "read me")
            outbox = EventWaiter(a, pair.timeout)
            if pair.second.capabilities.receipts:
                await b.mark_read(got)
                receipt = await outbox.next(
                    ReceiptReceived, lambda e: any(t.id == sent.id for t in e.targets)
                )
                assert receipt.sender.network == pair.second.network
            if pair.second.capabilities.typing:
                await b.set_typing(got.conversation, True)
                typing = await outbox.next(TypingChanged)
                assert typing.typing

    @_check
    async def check_membership(self) -> None:
        async with self.clients() as (pair, a, b, inbox):
            if not pair.first.capabilities.create_conversation:
                return
            room = await a.create_conversation(
                pair.first.network, name="conformance", members=[pair.second.account]
            )
            assert room.address.is_group, room
            await b.join(room.address)
            listed = {c.address for c in await b.conversations()}
            assert room.address in listed, (room, listed)
            await a.send(room.address, "to the group")
            got = await inbox.next(MessageReceived, lambda e: e.text == "to the group")
            assert got.conversation == room.address, got
            members = (await a.conversation(room.address)).members
            assert pair.second.account in members, members

    @_check
    async def check_encryption_state(self) -> None:
        async with self.clients() as (pair, a, _b, inbox):
            caps = pair.first.capabilities
            sent = await a.send(pair.second.account, "secret")
            state = await a.encryption_state(sent.conversation)
            assert state.encrypted == (state.scheme is not None), state
            if not caps.encryption:
                assert not state.encrypted, state
            await inbox.next(MessageReceived, lambda e: e.text == "secret")
            if caps.create_conversation:
                room = await a.create_conversation(
                    pair.first.network,
                    name="plain",
                    members=[pair.second.account],
                    encrypted=False,
                )
                plain = await a.encryption_state(room.address)
                if not plain.encrypted:
                    try:
                        await a.send(room.address, "x", require_encryption=True)
                    except EncryptionRequiredError:
                        pass
                    else:
                        raise AssertionError("require_encryption sent into a plaintext room")

    @_check
    async def check_capability_honesty(self) -> None:
        async with self.clients() as (pair, a, _b, _inbox):
            adapter = pair.first
            sent = await a.send(pair.second.account, "target")
            ref = sent.ref
            calls: dict[str, Callable[[], Awaitable[Any]]] = {
                "reactions": lambda: adapter.react(ref, "x", key=uuid.uuid4().hex),
                "edits": lambda: adapter.edit(ref, Content(text="y"), key=uuid.uuid4().hex),
                "typing": lambda: adapter.set_typing(sent.conversation, True),
                "disappearing_messages": lambda: adapter.set_disappearing(sent.conversation, None),
                "directory_search": lambda: adapter.find_users("nobody"),
            }
            for feature, call in calls.items():
                if getattr(adapter.capabilities, feature):
                    continue
                try:
                    await call()
                except NotSupportedError as exc:
                    assert exc.network == adapter.network, exc
                else:
                    raise AssertionError(f"{adapter.network} claims no {feature} but did it")

    @_check
    async def check_errors_after_close(self) -> None:
        async with self.make_pair() as pair:
            client = Client(pair.first)
            async with client:
                pass
            try:
                await client.send(pair.second.account, "too late")
            except ClosedError:
                pass
            else:
                raise AssertionError("a closed client sent a message")
            message = OutgoingMessage(
                to=pair.second.account, content=Content(text="x"), idempotency_key="k"
            )
            try:
                await pair.first.send(message)
            except ClosedError:
                pass
            else:
                raise AssertionError("a stopped adapter sent a message")

    @_check
    async def check_unknown_recipient(self) -> None:
        async with self.clients() as (pair, a, _b, _inbox):
            try:
                await a.send(pair.unknown_user, "anyone there?")
            except RemoteError:
                pass
            except UnimsgError as exc:
                raise AssertionError(f"expected a RemoteError, got {exc!r}") from exc
            else:
                raise AssertionError("a send to an unknown user succeeded")

    @_check
    async def check_idempotent_retry(self) -> None:
        async with self.clients() as (pair, a, _b, inbox):
            if not pair.first.capabilities.idempotent_sends:
                return
            key = uuid.uuid4().hex
            first = await a.send(pair.second.account, "once", idempotency_key=key)
            again = await a.send(pair.second.account, "once", idempotency_key=key)
            assert first.id == again.id, (first, again)
            await a.send(pair.second.account, "after")
            texts = [
                (await inbox.next(MessageReceived, lambda e: e.text in ("once", "after"))).text
                for _ in range(2)
            ]
            assert texts == ["once", "after"], texts

    @_check
    async def check_rate_limit(self) -> None:
        async with self.clients() as (pair, a, _b, inbox):
            if pair.inject_rate_limit is None:
                return
            await pair.inject_rate_limit()
            sent = await a.send(pair.second.account, "patient")
            got = await inbox.next(MessageReceived, lambda e: e.text == "patient")
            assert got.id == sent.id
            await inbox.none(MessageReceived, within=0.2)
