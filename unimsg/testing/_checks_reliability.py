"""Conformance checks: the core promises, driven on the adapter itself without a client.

Acknowledged events stay acknowledged across a restart (also when the resume
position lives in the state the client hands over) and unacknowledged
ones come again; a garbled network event becomes `UnknownEvent` and the
stream goes on; no secret shows in a repr, an error or a log line.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from .._address import Address
from .._capabilities import SupportsSharedState
from .._events import MessageReceived, UnknownEvent
from .._exceptions import UnimsgError
from ._kit import Inbox, need_feature, need_hook, running, send_text
from ._pair import ConformancePair


class ReliabilityChecks:
    async def test_acknowledged_events_stay_acknowledged_across_restart(
        self, conformance_pair: ConformancePair
    ) -> None:
        pair = conformance_pair
        reopen = need_hook(pair.reopen, "reopen")
        to, tag = pair.second.account, uuid.uuid4().hex[:8]
        texts = [f"{tag} {i}" for i in range(3)]
        async with running(pair.first, pair.timeout):
            async with running(pair.second, pair.timeout) as inbox:
                for text in texts:
                    await send_text(pair.first, to, text)
                await _messages(inbox, texts)
                # As an application does: everything handed out so far.
                for event in inbox.read:
                    await pair.second.ack(event)
            again = reopen(pair.second)
            async with running(again, pair.timeout) as inbox:
                await send_text(pair.first, to, f"{tag} after")
                seen = await _texts_until(inbox, tag, f"{tag} after")
                assert seen == [f"{tag} after"], f"acknowledged events came again: {seen}"

    async def test_unacknowledged_events_come_again_after_restart(
        self, conformance_pair: ConformancePair
    ) -> None:
        pair = conformance_pair
        need_feature(pair.second, "redelivery")
        reopen = need_hook(pair.reopen, "reopen")
        to, tag = pair.second.account, uuid.uuid4().hex[:8]
        texts = [f"{tag} {i}" for i in range(3)]
        async with running(pair.first, pair.timeout):
            async with running(pair.second, pair.timeout) as inbox:
                for text in texts:
                    await send_text(pair.first, to, text)
                first, *_ = await _messages(inbox, texts)
                # Everything up to the first message, and nothing after it.
                for event in inbox.read[: inbox.read.index(first) + 1]:
                    await pair.second.ack(event)
            again = reopen(pair.second)
            async with running(again, pair.timeout) as inbox:
                await send_text(pair.first, to, f"{tag} after")
                seen = await _texts_until(inbox, tag, f"{tag} after")
        # The first may come again too (it shared a batch with the others), never out of order.
        assert seen in ([*texts[1:], f"{tag} after"], [*texts, f"{tag} after"]), seen

    async def test_resume_position_lives_in_the_state_it_is_given(
        self, conformance_pair: ConformancePair
    ) -> None:
        pair = conformance_pair
        if not isinstance(pair.second, SupportsSharedState):
            pytest.skip(f"{type(pair.second).__name__} does not implement SupportsSharedState")
        reopen = need_hook(pair.reopen, "reopen")
        state = _State()
        pair.second.use_state(state)
        to, tag = pair.second.account, uuid.uuid4().hex[:8]
        texts = [f"{tag} {i}" for i in range(2)]
        async with running(pair.first, pair.timeout):
            async with running(pair.second, pair.timeout) as inbox:
                for text in texts:
                    await send_text(pair.first, to, text)
                await _messages(inbox, texts)
                before = dict(state.values)
                for event in inbox.read:
                    await pair.second.ack(event)
            assert state.values, "the adapter kept nothing in the state it was given"
            assert state.values != before, "acknowledging did not move the position in the state"
            again = reopen(pair.second)
            assert isinstance(again, SupportsSharedState)
            again.use_state(state)
            async with running(again, pair.timeout) as inbox:
                await send_text(pair.first, to, f"{tag} after")
                seen = await _texts_until(inbox, tag, f"{tag} after")
                assert seen == [f"{tag} after"], f"acknowledged events came again: {seen}"

    async def test_garbled_event_becomes_unknown_event(
        self, conformance_pair: ConformancePair
    ) -> None:
        pair = conformance_pair
        garble = need_hook(pair.inject_garbled, "inject_garbled")
        to = pair.second.account
        async with running(pair.first, pair.timeout), running(pair.second, pair.timeout) as inbox:
            await send_text(pair.first, to, "before the garbage")
            got = await inbox.next(MessageReceived, lambda e: e.text == "before the garbage")
            await garble(pair.second, got.conversation)
            unknown = await inbox.next(UnknownEvent)
            assert unknown.network == pair.second.network and unknown.type, unknown
            await send_text(pair.first, to, "after the garbage")
            await inbox.next(MessageReceived, lambda e: e.text == "after the garbage")

    async def test_no_secret_in_reprs_errors_or_logs(
        self, conformance_pair: ConformancePair
    ) -> None:
        pair = conformance_pair
        if not pair.secrets:
            pytest.skip("the conformance_pair fixture names no secrets")
        texts: list[str] = []
        with _logs(texts):
            texts += [repr(pair.first), repr(pair.second)]
            async with running(pair.first, pair.timeout), running(pair.second, pair.timeout) as box:
                texts += [repr(pair.first), repr(pair.second)]
                sent = await send_text(pair.first, pair.second.account, "hush")
                got = await box.next(MessageReceived, lambda e: e.text == "hush")
                texts += [repr(sent), repr(got), *map(repr, box.skipped)]
                try:
                    await send_text(pair.first, Address.parse(pair.unknown_user), "anyone?")
                except UnimsgError as exc:
                    texts += [str(exc), repr(exc), repr(exc.__cause__), repr(exc.__context__)]
            texts += [repr(pair.first), repr(pair.second)]
        leaks = [n for n, secret in enumerate(pair.secrets) if any(secret in t for t in texts)]
        assert not leaks, f"secrets number {leaks} of conformance_pair.secrets leaked"


async def _messages(inbox: Inbox, texts: list[str]) -> list[MessageReceived]:
    found = []
    for text in texts:
        found.append(await inbox.next(MessageReceived, lambda e: e.text == text))  # noqa: B023
    return found


async def _texts_until(inbox: Inbox, tag: str, last: str) -> list[str]:
    seen: list[str] = []
    while not seen or seen[-1] != last:
        seen.append((await inbox.next(MessageReceived, lambda e: e.text.startswith(tag))).text)
    return seen


@contextmanager
def _logs(into: list[str]) -> Iterator[None]:
    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            into.append(self.format(record))

    root, handler = logging.getLogger(), Keep(logging.DEBUG)
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


class _State:
    """An `AdapterState` whose values the check can read."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    async def get(self, name: str) -> str | None:
        return self.values.get(name)

    async def put(self, name: str, value: str | None) -> None:
        if value is None:
            self.values.pop(name, None)
        else:
            self.values[name] = value
