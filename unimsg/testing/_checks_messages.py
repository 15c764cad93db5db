"""Conformance checks: sending, receiving and changing messages, through a client."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from .._capabilities import (
    SupportsAttachments,
    SupportsDeletes,
    SupportsEdits,
    SupportsReactions,
    SupportsReceipts,
    SupportsTyping,
)
from .._client import Client
from .._events import (
    MessageDeleted,
    MessageEdited,
    MessageReceived,
    ReactionReceived,
    ReceiptReceived,
    TypingChanged,
)
from .._exceptions import ClosedError, NotSupportedError, RemoteError, UnimsgError
from .._types import Attachment, Content
from ._kit import need, need_feature, need_hook, running, send_text
from ._pair import ConformancePair
from ._waiting import EventWaiter


@asynccontextmanager
async def clients(pair: ConformancePair) -> AsyncIterator[tuple[Client, Client, EventWaiter]]:
    async with Client(pair.first) as a, Client(pair.second) as b:
        yield a, b, EventWaiter(b, pair.timeout)


class MessageChecks:
    async def test_send_receive(self, conformance_pair: ConformancePair) -> None:
        pair = conformance_pair
        async with clients(pair) as (a, _b, inbox):
            sent = await a.send(pair.second.account, "hello")
            assert sent.id and sent.timestamp.tzinfo is not None, sent
            got = await inbox.next(MessageReceived, lambda e: e.text == "hello")
            assert got.id == sent.id, (got, sent)
            assert got.sender.network == pair.first.network
            assert got.account == pair.second.account
            assert not got.from_self
            assert "raw" not in repr(got) or got.raw is None

    async def test_ordering(self, conformance_pair: ConformancePair) -> None:
        pair = conformance_pair
        async with clients(pair) as (a, _b, inbox):
            texts = [f"message {i}" for i in range(10)]
            for text in texts:
                await a.send(pair.second.account, text)
            seen = [
                (await inbox.next(MessageReceived, lambda e: e.text.startswith("message "))).text
                for _ in texts
            ]
            assert seen == texts, seen

    async def test_reply(self, conformance_pair: ConformancePair) -> None:
        pair = conformance_pair
        need_feature(pair.second, "replies")
        async with clients(pair) as (a, b, inbox):
            sent = await a.send(pair.second.account, "question")
            got = await inbox.next(MessageReceived, lambda e: e.text == "question")
            await b.reply(got, "answer")
            answer = await EventWaiter(a, pair.timeout).next(
                MessageReceived, lambda e: e.text.endswith("answer")
            )
            assert answer.reply_to is not None and answer.reply_to.id == sent.id, answer
            assert answer.conversation.network == pair.first.network

    async def test_reactions(self, conformance_pair: ConformancePair) -> None:
        pair = conformance_pair
        need(pair.second, SupportsReactions)
        async with clients(pair) as (a, b, inbox):
            sent = await a.send(pair.second.account, "react to me")
            got = await inbox.next(MessageReceived, lambda e: e.text == "react to me")
            await b.react(got, "👍")
            reaction = await EventWaiter(a, pair.timeout).next(ReactionReceived)
            assert reaction.emoji == "👍" and reaction.target.id == sent.id, reaction

    async def test_edits(self, conformance_pair: ConformancePair) -> None:
        pair = conformance_pair
        need(pair.first, SupportsEdits)
        async with clients(pair) as (a, _b, inbox):
            sent = await a.send(pair.second.account, "original")
            await inbox.next(MessageReceived, lambda e: e.text == "original")
            await a.edit(sent, "changed")
            edit = await inbox.next(MessageEdited)
            assert edit.target.id == sent.id and edit.text == "changed", edit

    async def test_deletes(self, conformance_pair: ConformancePair) -> None:
        pair = conformance_pair
        need(pair.first, SupportsDeletes)
        async with clients(pair) as (a, _b, inbox):
            sent = await a.send(pair.second.account, "regrettable")
            await inbox.next(MessageReceived, lambda e: e.text == "regrettable")
            await a.delete(sent)
            deleted = await inbox.next(MessageDeleted)
            assert deleted.target.id == sent.id, deleted

    async def test_read_receipts(self, conformance_pair: ConformancePair) -> None:
        pair = conformance_pair
        need(pair.second, SupportsReceipts)
        async with clients(pair) as (a, b, inbox):
            sent = await a.send(pair.second.account, "read me")
            got = await inbox.next(MessageReceived, lambda e: e.text == "read me")
            await b.mark_read(got)
            receipt = await EventWaiter(a, pair.timeout).next(
                ReceiptReceived, lambda e: any(t.id == sent.id for t in e.targets)
            )
            assert receipt.sender.network == pair.second.network

    async def test_typing(self, conformance_pair: ConformancePair) -> None:
        pair = conformance_pair
        need(pair.second, SupportsTyping)
        async with clients(pair) as (a, b, inbox):
            await a.send(pair.second.account, "type back")
            got = await inbox.next(MessageReceived, lambda e: e.text == "type back")
            await b.set_typing(got.conversation, True)
            typing = await EventWaiter(a, pair.timeout).next(TypingChanged)
            assert typing.typing

    async def test_attachment_download(self, conformance_pair: ConformancePair) -> None:
        pair = conformance_pair
        need(pair.first, SupportsAttachments)
        need(pair.second, SupportsAttachments)
        data = uuid.uuid4().bytes * 64
        file = Attachment(data=data, filename="notes.bin", mime_type="application/octet-stream")
        async with clients(pair) as (a, _b, inbox):
            await a.send(pair.second.account, Content(text="a file", attachments=[file]))
            got = await inbox.next(MessageReceived, lambda e: bool(e.attachments))
            (received,) = got.attachments
            assert isinstance(pair.second, SupportsAttachments)
            assert await pair.second.download(received) == data

    async def test_capabilities_lacking_raise_not_supported(
        self, conformance_pair: ConformancePair
    ) -> None:
        pair = conformance_pair
        async with clients(pair) as (a, _b, _inbox):
            caps = a.capabilities(pair.first.network)
            sent = await a.send(pair.second.account, "target")
            where = sent.conversation
            calls: dict[str, Callable[[], Awaitable[Any]]] = {
                "reactions": lambda: a.react(sent.ref, "x"),
                "edits": lambda: a.edit(sent, "y"),
                "deletes": lambda: a.delete(sent),
                "typing": lambda: a.set_typing(where, True),
                "receipts": lambda: a.mark_read(sent.ref),
                "disappearing_messages": lambda: a.set_disappearing(where, None),
                "directory_search": lambda: a.find_users(pair.first.network, "nobody"),
                "conversations": lambda: a.conversation(where),
                "invites": lambda: a.invite(where, pair.second.account),
            }
            lacking = [feature for feature in calls if not getattr(caps, feature)]
            if not lacking:
                pytest.skip(f"{type(pair.first).__name__} offers every capability checked here")
            for feature in lacking:
                try:
                    await calls[feature]()
                except NotSupportedError as exc:
                    assert exc.network == pair.first.network, exc
                else:
                    raise AssertionError(f"{pair.first.network} lacks {feature} but did it")

    async def test_errors_after_close(self, conformance_pair: ConformancePair) -> None:
        pair = conformance_pair
        client = Client(pair.first)
        async with client:
            pass
        try:
            await client.send(pair.second.account, "too late")
        except ClosedError:
            pass
        else:
            raise AssertionError("a closed client sent a message")
        try:
            await send_text(pair.first, pair.second.account, "x")
        except ClosedError:
            pass
        else:
            raise AssertionError("a stopped adapter sent a message")

    async def test_unknown_recipient(self, conformance_pair: ConformancePair) -> None:
        pair = conformance_pair
        async with clients(pair) as (a, _b, _inbox):
            try:
                await a.send(pair.unknown_user, "anyone there?")
            except RemoteError:
                pass
            except UnimsgError as exc:
                raise AssertionError(f"expected a RemoteError, got {exc!r}") from exc
            else:
                raise AssertionError("a send to an unknown user succeeded")

    async def test_idempotent_retry(self, conformance_pair: ConformancePair) -> None:
        pair = conformance_pair
        if not pair.first.idempotent_sends:
            pytest.skip(f"{type(pair.first).__name__} has no idempotent sends")
        async with clients(pair) as (a, _b, inbox):
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

    async def test_rate_limit(self, conformance_pair: ConformancePair) -> None:
        pair = conformance_pair
        inject = need_hook(pair.inject_rate_limit, "inject_rate_limit")
        async with clients(pair) as (a, _b, inbox):
            await inject()
            sent = await a.send(pair.second.account, "patient")
            got = await inbox.next(MessageReceived, lambda e: e.text == "patient")
            assert got.id == sent.id
            await inbox.none(MessageReceived, within=0.2)

    async def test_cancelled_send_leaves_adapter_usable(
        self, conformance_pair: ConformancePair
    ) -> None:
        pair = conformance_pair
        to = pair.second.account
        async with running(pair.first, pair.timeout), running(pair.second, pair.timeout) as inbox:
            # Cancelled at the first checkpoint, then a little later: mid-request.
            for delay in (0.0, 0.001, 0.005, 0.02):
                with anyio.move_on_after(delay):
                    await send_text(pair.first, to, f"maybe {delay}")
            sent = await send_text(pair.first, to, "after the cancellations")
            got = await inbox.next(MessageReceived, lambda e: e.text == "after the cancellations")
            assert got.id == sent.id, (got, sent)
