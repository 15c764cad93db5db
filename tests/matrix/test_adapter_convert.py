"""Conversion and error mapping without a server: garbage in, typed values out."""

from __future__ import annotations

from typing import Any

import aiohttp
import nio
import pytest
from unimsg_matrix._convert import Converter
from unimsg_matrix._errors import check, error_for, translated
from unimsg_matrix._redact import redact

from unimsg import (
    Address,
    AuthenticationError,
    ConnectError,
    InvalidContentError,
    MembershipChanged,
    MessageDeleted,
    MessageEdited,
    MessageReceived,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ReactionReceived,
    RemoteError,
    UndecryptableMessage,
    UnknownEvent,
)

ME = Address.matrix("@me:example.org")
ROOM = "!room:example.org"


def event(kind: str, content: Any, **extra: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "content": content,
        "sender": "@alice:example.org",
        "event_id": "$e1",
        "origin_server_ts": 1_700_000_000_000,
        **extra,
    }


def convert(source: Any, **flags: Any) -> Any:
    return Converter(ME).timeline(ROOM, source, encrypted=False, from_self=False, **flags)


@pytest.mark.parametrize(
    "garbage",
    [
        {},
        {"type": 5},
        {"type": "m.room.message", "content": "nope"},
        {"type": "m.room.message", "content": {"msgtype": "m.text"}},
        event("m.room.message", {"msgtype": "m.text", "body": 3}),
        event("m.reaction", {"m.relates_to": "x"}),
        event("m.room.redaction", {}),
        event("m.room.member", {"membership": "join"}, sender="not a user id"),
        event("m.room.message", {"msgtype": "m.image", "body": "pic"}),
        event("m.room.message", {"msgtype": "m.location", "body": "here"}),
        event("com.example.custom", {"anything": True}),
        {"type": "m.room.message", "sender": "@a:b", "origin_server_ts": "soon", "content": None},
    ],
)
def test_garbage_becomes_unknown_event(garbage: Any) -> None:
    converted = convert(garbage)
    assert isinstance(converted, UnknownEvent), converted
    assert converted.raw == garbage


def test_messages_replies_edits_reactions_and_redactions() -> None:
    converter = Converter(ME)
    reply = converter.timeline(
        ROOM,
        event(
            "m.room.message",
            {
                "msgtype": "m.text",
                "body": "> <@me:example.org> question\n\nanswer <@bob>",
                "format": "org.matrix.custom.html",
                "formatted_body": "<mx-reply>quoted</mx-reply>answer "
                '<a href="https://matrix.to/#/@bob:example.org">@bob</a>',
                "m.relates_to": {"m.in_reply_to": {"event_id": "$q"}},
            },
        ),
        encrypted=True,
        from_self=False,
    )
    assert isinstance(reply, MessageReceived)
    assert reply.text == "answer <@bob>" and reply.encrypted
    assert reply.reply_to is not None and reply.reply_to.id == "$q"
    assert reply.html is not None and "mx-reply" not in reply.html
    assert [(m.user.id, m.start, m.length) for m in reply.mentions] == [("@bob:example.org", 8, 4)]

    edit = convert(
        event(
            "m.room.message",
            {
                "msgtype": "m.text",
                "body": "* new",
                "m.new_content": {"msgtype": "m.text", "body": "new"},
                "m.relates_to": {"rel_type": "m.replace", "event_id": "$old"},
            },
        )
    )
    assert isinstance(edit, MessageEdited) and (edit.target.id, edit.text) == ("$old", "new")

    reaction = converter.timeline(
        ROOM,
        event(
            "m.reaction",
            {"m.relates_to": {"rel_type": "m.annotation", "event_id": "$t", "key": "👍"}},
            event_id="$r",
        ),
        encrypted=False,
        from_self=False,
    )
    assert isinstance(reaction, ReactionReceived) and reaction.target.id == "$t"
    undone = converter.timeline(
        ROOM, event("m.room.redaction", {}, redacts="$r"), encrypted=False, from_self=False
    )
    assert isinstance(undone, ReactionReceived) and undone.removed and undone.emoji == "👍"
    deleted = converter.timeline(
        ROOM, event("m.room.redaction", {"redacts": "$m"}), encrypted=False, from_self=False
    )
    assert isinstance(deleted, MessageDeleted) and deleted.target.id == "$m"

    file = convert(
        event(
            "m.room.message",
            {
                "msgtype": "m.file",
                "body": "report.pdf",
                "filename": "report.pdf",
                "info": {"mimetype": "application/pdf", "size": 12},
                "file": {"url": "mxc://example.org/abc", "key": {"k": "x"}, "iv": "y"},
            },
        )
    )
    assert isinstance(file, MessageReceived) and file.text == ""
    (attachment,) = file.attachments
    assert attachment.source == "mxc://example.org/abc" and attachment.secrets is not None

    kicked = convert(event("m.room.member", {"membership": "leave"}, state_key="@bob:example.org"))
    assert isinstance(kicked, MembershipChanged) and kicked.membership.value == "kicked"

    locked = convert(
        event("m.room.encrypted", {"algorithm": "m.megolm.v1.aes-sha2", "session_id": "s"})
    )
    assert isinstance(locked, UndecryptableMessage) and locked.session_id == "s"


def error(errcode: str | None, message: str = "nope", retry_after_ms: int | None = None) -> Any:
    response = nio.RoomSendError(message, errcode, retry_after_ms)
    return response


@pytest.mark.parametrize(
    ("errcode", "kind"),
    [
        ("M_FORBIDDEN", PermissionDeniedError),
        ("M_NOT_FOUND", NotFoundError),
        ("M_UNKNOWN_TOKEN", AuthenticationError),
        ("M_TOO_LARGE", InvalidContentError),
        ("M_UNKNOWN", RemoteError),
        (None, RemoteError),
    ],
)
def test_error_mapping(errcode: str | None, kind: type[Exception]) -> None:
    mapped = error_for(error(errcode), "send to !r:hs")
    assert type(mapped) is kind, mapped
    with pytest.raises(kind):
        check(error(errcode), "send")


def test_rate_limit_carries_retry_after_and_no_token_leaks() -> None:
    mapped = error_for(error("M_LIMIT_EXCEEDED", "Too Many Requests", 4652), "send")
    assert isinstance(mapped, RateLimitedError) and mapped.retry_after == pytest.approx(4.652)
    leaky = error("M_UNKNOWN", "bad url /sync?access_token=syt_abcdefgh&x=1")
    assert "syt_abcdefgh" not in str(error_for(leaky, "sync"))
    assert redact('{"access_token": "syt_zzz", "Authorization": "Bearer xyz1234"}') == (
        '{"access_token": "[secure]", "Authorization": "Bearer [secure]"}'
    )


def test_connection_failures_become_connect_error() -> None:
    with pytest.raises(ConnectError, match="cannot reach"), translated("sync"):
        raise aiohttp.ClientConnectionError("refused")
    with pytest.raises(ConnectError), translated("sync"):
        raise TimeoutError


NO_ID_EVENTS = [
    {"type": "m.room.message", "content": {"msgtype": "m.text", "body": "hi"}, "sender": "@a:x"},
    {"type": "m.room.message", "content": {"msgtype": "m.text", "body": 3}},
    {"type": 5, "origin_server_ts": 1},
    {},
]
STABLE_IDS = """
import json, sys
from unimsg_matrix._convert import Converter
from unimsg import Address
from tests.matrix.test_adapter_convert import NO_ID_EVENTS, ROOM
converter = Converter(Address.matrix("@me:example.org"))
events = [converter.timeline(ROOM, dict(e), encrypted=False, from_self=False) for e in NO_ID_EVENTS]
print(json.dumps([e.id for e in events]))
"""


def test_events_without_an_id_get_the_same_id_in_every_run() -> None:
    import json
    import pathlib
    import subprocess
    import sys

    root = pathlib.Path(__file__).resolve().parents[2]
    runs = [
        subprocess.run(
            [sys.executable, "-c", STABLE_IDS], capture_output=True, text=True, check=True, cwd=root
        ).stdout
        for _ in range(2)
    ]
    ids = json.loads(runs[0])
    assert runs[0] == runs[1]
    assert len(set(ids)) == len(ids)
    here = [convert(dict(e)).id for e in NO_ID_EVENTS]
    assert here == ids


def test_content_ids_follow_the_content() -> None:
    source = {"type": "m.room.message", "content": {"msgtype": "m.text", "body": "hi"}}
    reordered = {"content": {"body": "hi", "msgtype": "m.text"}, "type": "m.room.message"}
    same = convert(source).id
    assert same == convert(reordered).id and same.startswith("matrix-event:")
    other = Converter(ME).timeline("!other:x", source, encrypted=False, from_self=False)
    assert other.id != same
    assert convert({**source, "content": {"msgtype": "m.text", "body": "ho"}}).id != same
    assert convert(event("m.room.message", {"msgtype": "m.text", "body": "x"})).id == "$e1"
