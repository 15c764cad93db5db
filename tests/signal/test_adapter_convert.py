"""Envelope JSON to unimsg events, without sockets."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from unimsg_signal._convert import Context, convert

from unimsg import (
    Address,
    ConversationUpdated,
    EncryptionStateChanged,
    Event,
    MessageDeleted,
    MessageEdited,
    MessageReceived,
    ReactionReceived,
    ReceiptKind,
    ReceiptReceived,
    StyleRange,
    TextStyle,
    TypingChanged,
    UndecryptableMessage,
    UnknownEvent,
)

ME = Address.signal("+15550000001")
ALICE_UUID = "0d1e2f30-0000-4000-8000-000000000001"
GROUP = "a" * 43 + "="
TS = 1767225600123
CTX = Context(ME, frozenset({1767000000000}))


def envelope(**parts: Any) -> dict[str, Any]:
    return {
        "account": ME.id,
        "envelope": {
            "source": "+15550001111",
            "sourceNumber": "+15550001111",
            "sourceUuid": ALICE_UUID,
            "sourceName": "Alice",
            "sourceDevice": 1,
            "timestamp": TS,
            "serverReceivedTimestamp": TS + 10,
            "serverDeliveredTimestamp": TS + 20,
            **parts,
        },
    }


def data(**fields: Any) -> dict[str, Any]:
    return {
        "timestamp": TS,
        "message": None,
        "expiresInSeconds": 0,
        "isExpirationUpdate": False,
        "viewOnce": False,
        **fields,
    }


def one(payload: Any, ctx: Context = CTX) -> Event:
    events = convert(payload, ctx)
    assert len(events) == 1, events
    return events[0]


ALICE = Address.signal("+15550001111")


def test_direct_text() -> None:
    event = one(envelope(dataMessage=data(message="hi", expiresInSeconds=60)))
    assert isinstance(event, MessageReceived)
    assert (event.text, event.id, event.sender, event.conversation) == ("hi", str(TS), ALICE, ALICE)
    assert event.account == ME and event.encrypted and not event.from_self
    assert event.expires_in == timedelta(seconds=60)
    assert event.timestamp.timestamp() * 1000 == TS
    assert event.raw["envelope"]["timestamp"] == TS


def test_group_message_with_quote_mention_styles_attachment() -> None:
    text = "😀 \ufffc see **this**"
    event = one(
        envelope(
            dataMessage=data(
                message=text,
                groupInfo={"groupId": GROUP, "groupName": "Team", "revision": 3, "type": "DELIVER"},
                quote={
                    "id": TS - 5,
                    "author": ME.id,
                    "authorNumber": ME.id,
                    "authorUuid": None,
                    "text": "q",
                    "attachments": [],
                },
                # UTF-16: the emoji is two units, so the placeholder sits at unit 3.
                mentions=[{"name": ME.id, "number": ME.id, "uuid": None, "start": 3, "length": 1}],
                textStyles=[{"style": "BOLD", "start": 9, "length": 8}],
                attachments=[
                    {
                        "contentType": "image/png",
                        "filename": "a.png",
                        "id": "abc.png",
                        "size": 3,
                        "width": None,
                        "height": None,
                        "caption": None,
                        "uploadTimestamp": None,
                    }
                ],
            )
        )
    )
    assert isinstance(event, MessageReceived)
    assert event.conversation == Address.parse(f"signal:group:{GROUP}")
    assert event.mentions[0].user == ME and event.mentions[0].start == 2
    assert text[event.mentions[0].start] == "\ufffc"
    assert event.styles == (StyleRange(8, 8, TextStyle.BOLD),)
    assert event.reply_to is not None and event.reply_to.id == str(TS - 5)
    assert event.reply_to.sender == ME
    attachment = event.attachments[0]
    assert (attachment.source, attachment.filename, attachment.mime_type, attachment.size) == (
        "abc.png",
        "a.png",
        "image/png",
        3,
    )


def test_reaction_delete_edit() -> None:
    reaction = one(
        envelope(
            dataMessage=data(
                reaction={
                    "emoji": "👍",
                    "targetAuthor": ME.id,
                    "targetAuthorNumber": ME.id,
                    "targetAuthorUuid": None,
                    "targetSentTimestamp": TS - 1,
                    "isRemove": True,
                }
            )
        )
    )
    assert isinstance(reaction, ReactionReceived) and reaction.removed and reaction.emoji == "👍"
    assert reaction.target.id == str(TS - 1) and reaction.target.sender == ME
    deleted = one(envelope(dataMessage=data(remoteDelete={"timestamp": TS - 2})))
    assert isinstance(deleted, MessageDeleted) and deleted.target.id == str(TS - 2)
    assert deleted.target.sender == ALICE
    edited = one(
        envelope(editMessage={"targetSentTimestamp": TS - 3, "dataMessage": data(message="fixed")})
    )
    assert isinstance(edited, MessageEdited) and edited.text == "fixed"
    assert edited.target.id == str(TS - 3)


def test_receipts_and_typing() -> None:
    for flags, kind in (
        ({"isDelivery": True}, ReceiptKind.DELIVERED),
        ({"isRead": True}, ReceiptKind.READ),
        ({"isViewed": True}, ReceiptKind.VIEWED),
    ):
        receipt = one(envelope(receiptMessage={"when": TS, "timestamps": [TS - 9], **flags}))
        assert isinstance(receipt, ReceiptReceived) and receipt.kind is kind
        assert receipt.targets[0].id == str(TS - 9) and receipt.targets[0].sender == ME
    typing = one(envelope(typingMessage={"action": "STOPPED", "timestamp": TS, "groupId": GROUP}))
    assert isinstance(typing, TypingChanged) and not typing.typing
    assert typing.conversation.is_group


def test_sync_sent_message_is_from_self_unless_we_sent_it() -> None:
    sent = {
        "destination": "+15550001111",
        "destinationNumber": "+15550001111",
        "destinationUuid": ALICE_UUID,
        **data(message="from my phone"),
    }
    event = one(envelope(sourceNumber=ME.id, source=ME.id, syncMessage={"sentMessage": sent}))
    assert isinstance(event, MessageReceived) and event.from_self
    assert event.sender == ME and event.conversation == ALICE
    echo = copy.deepcopy(sent)
    echo["timestamp"] = 1767000000000
    assert convert(envelope(syncMessage={"sentMessage": echo}), CTX) == []


def test_timer_and_group_update() -> None:
    timer = one(envelope(dataMessage=data(isExpirationUpdate=True, expiresInSeconds=3600)))
    assert isinstance(timer, ConversationUpdated) and timer.disappearing_changed
    assert timer.disappearing == timedelta(hours=1)
    off = one(envelope(dataMessage=data(isExpirationUpdate=True)))
    assert isinstance(off, ConversationUpdated) and off.disappearing is None
    update = one(
        envelope(
            dataMessage=data(
                groupInfo={"groupId": GROUP, "groupName": "New", "revision": 4, "type": "UPDATE"}
            )
        )
    )
    assert isinstance(update, ConversationUpdated) and update.name == "New"


def test_untrusted_identity_and_other_exceptions() -> None:
    payload = envelope()
    payload["exception"] = {"message": "Untrusted identity", "type": "UntrustedIdentityException"}
    changed, undecryptable = convert(payload, CTX)
    assert isinstance(changed, EncryptionStateChanged) and changed.member == ALICE
    assert changed.state.changed == (ALICE,) and changed.state.encrypted
    assert isinstance(undecryptable, UndecryptableMessage) and undecryptable.id == str(TS)
    payload["exception"] = {"message": "dup", "type": "ProtocolDuplicateMessageException"}
    event = one(payload)
    assert isinstance(event, UndecryptableMessage) and "Duplicate" in event.reason


def test_unmapped_parts_are_unknown_events() -> None:
    for parts, kind in (
        ({"callMessage": {"offerMessage": {}}}, "callMessage"),
        ({}, "envelope"),
        ({"syncMessage": {"readMessages": [{"timestamp": TS}]}}, "syncMessage.readMessages"),
        ({"dataMessage": data(sticker={"packId": "ab", "stickerId": 1})}, "sticker"),
    ):
        event = one(envelope(**parts))
        assert isinstance(event, UnknownEvent) and event.type == kind, event


def test_garbage_is_unknown() -> None:
    for payload in (None, [], "x", {"envelope": None}, {"envelope": {"timestamp": "no"}}):
        assert isinstance(one(payload), UnknownEvent)
    bad_group = envelope(dataMessage=data(message="x", groupInfo={"groupId": "%%%"}))
    assert isinstance(one(bad_group), UnknownEvent)


def test_bogus_offsets_are_dropped() -> None:
    event = one(
        envelope(
            dataMessage=data(
                message="ab",
                textStyles=[
                    {"style": "BOLD", "start": 1, "length": 99},
                    {"style": "NOPE", "start": 0, "length": 1},
                    {"style": "ITALIC", "start": True, "length": 1},
                ],
                mentions=[{"number": "+15550001111", "start": -1, "length": 1}],
            )
        )
    )
    assert isinstance(event, MessageReceived) and not event.styles and not event.mentions


# -- property: nothing the daemon sends makes convert raise ------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
KEYS = [
    "timestamp",
    "message",
    "groupInfo",
    "reaction",
    "remoteDelete",
    "quote",
    "mentions",
    "textStyles",
    "attachments",
    "isExpirationUpdate",
    "expiresInSeconds",
]
SAMPLE = envelope(
    dataMessage=data(
        message="hi 😀",
        groupInfo={"groupId": GROUP, "type": "UPDATE"},
        quote={"id": TS, "authorNumber": "+15550001111"},
        mentions=[{"number": "+15550001111", "start": 0, "length": 1}],
        textStyles=[{"style": "BOLD", "start": 0, "length": 2}],
        attachments=[{"id": "x", "size": 1}],
    ),
    syncMessage={"sentMessage": {"destinationNumber": "+15550001111", **data(message="s")}},
    receiptMessage={"isRead": True, "timestamps": [TS]},
    typingMessage={"action": "STARTED"},
    editMessage={"targetSentTimestamp": TS, "dataMessage": data(message="e")},
)


def _check(payload: Any) -> None:
    events = convert(payload, CTX)
    assert all(isinstance(e, Event) for e in events)
    for event in events:
        repr(event)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_random_json_never_raises(value: Any) -> None:
    _check(value)
    _check({"envelope": value})
    _check(envelope(dataMessage=value))


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(KEYS), json_values, st.sampled_from(list(SAMPLE["envelope"])))
def test_wrongly_typed_fields_never_raise(key: str, value: Any, part: str) -> None:
    payload = copy.deepcopy(SAMPLE)
    payload["envelope"][part] = value
    _check(payload)
    payload = copy.deepcopy(SAMPLE)
    payload["envelope"]["dataMessage"][key] = value
    _check(payload)
    payload["envelope"]["syncMessage"]["sentMessage"][key] = value
    _check(payload)


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0, max_value=len(json.dumps(SAMPLE))))
def test_truncated_json_never_raises(cut: int) -> None:
    from unimsg_signal._jsonrpc import parse_message

    text = json.dumps({"jsonrpc": "2.0", "method": "receive", "params": SAMPLE})[: cut + 40]
    try:
        notes = parse_message(text.encode())
    except Exception as exc:  # the codec refuses it; the adapter never sees a payload
        assert type(exc).__name__ == "RemoteProtocolError"
        return
    for note in notes:
        _check(getattr(note, "params", None))


STABLE_IDS = """
import json
from unimsg_signal._convert import convert
from tests.signal.test_adapter_convert import CTX, SAMPLES
print(json.dumps([[e.id for e in convert(p, CTX)] for p in SAMPLES]))
"""
SAMPLES: list[Any] = [
    None,
    {"envelope": None, "x": [1, 2]},
    {"envelope": {"timestamp": "no", "source": "+1"}},
    envelope(dataMessage=data(message="hi")),
    envelope(typingMessage={"action": "STARTED", "timestamp": TS}),
    envelope(callMessage={"offerMessage": {}}),
]


def test_every_event_id_is_the_same_in_every_run() -> None:
    import pathlib
    import subprocess
    import sys

    root = pathlib.Path(__file__).resolve().parents[2]
    run = [sys.executable, "-c", STABLE_IDS]
    first, second = (
        subprocess.run(run, capture_output=True, text=True, check=True, cwd=root).stdout
        for _ in range(2)
    )
    assert first == second
    ids = json.loads(first)
    assert ids == [[e.id for e in convert(p, CTX)] for p in SAMPLES]
    flat = [i for group in ids for i in group]
    assert len(set(flat)) == len(flat)


def test_garbage_ids_follow_the_content_not_the_key_order() -> None:
    payload = {"envelope": {"timestamp": "no", "source": "+1"}, "account": ME.id}
    reordered = {"account": ME.id, "envelope": {"source": "+1", "timestamp": "no"}}
    assert one(payload).id == one(reordered).id
    assert one(payload).id != one({**payload, "account": "+2"}).id
