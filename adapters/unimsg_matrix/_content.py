"""unimsg content to Matrix event content: text, markdown, mentions, replies, edits, files."""

from __future__ import annotations

import json
import math
from typing import Any

from unimsg import Attachment, Content, InvalidContentError
from unimsg.markdown import plain_to_html, to_html

__all__ = [
    "EVENT_BYTES",
    "attachment_content",
    "check_size",
    "edit_content",
    "message_content",
    "reaction_content",
]

#: Synapse refuses events whose JSON exceeds 65,536 bytes; the envelope
#: (sender, room id, hashes, signatures, auth events) needs about 1.5 KB of that.
EVENT_BYTES = 64_000
#: Megolm output per plaintext byte (base64) plus the fixed fields around it.
_MEGOLM_RATIO = 4 / 3
_MEGOLM_OVERHEAD = 600


def _size(content: dict[str, Any], event_type: str, encrypted: bool) -> int:
    plain = len(json.dumps(content, ensure_ascii=False).encode())
    if not encrypted:
        return plain
    # The encrypted payload also carries the type and room id, then is padded and base64'd.
    return math.ceil((plain + len(event_type) + 120) * _MEGOLM_RATIO) + _MEGOLM_OVERHEAD


def check_size(content: dict[str, Any], event_type: str, *, encrypted: bool) -> None:
    size = _size(content, event_type, encrypted)
    if size > EVENT_BYTES:
        where = "an encrypted" if encrypted else "a"
        raise InvalidContentError(
            f"the message would make an event of about {size} bytes; {where} Matrix room "
            f"takes at most {EVENT_BYTES} (the server's limit is 65,536 bytes per event, "
            "and encryption adds a third): split the text or send it as a file"
        )


def _user_ids(content: Content) -> list[str]:
    return sorted({m.user.id for m in content.mentions if m.user.network == "matrix"})


def message_content(content: Content, *, msgtype: str = "m.text") -> dict[str, Any]:
    """``m.room.message`` content for the text of ``content`` (no attachments)."""
    body: dict[str, Any] = {"msgtype": msgtype, "body": content.text}
    mentions = [m for m in content.mentions if m.user.network == "matrix"]
    if content.format == "markdown":
        body["format"] = "org.matrix.custom.html"
        body["formatted_body"] = to_html(content.text)
    elif mentions:
        body["format"] = "org.matrix.custom.html"
        body["formatted_body"] = plain_to_html(content.text, mentions)
    # An empty m.mentions tells clients that nobody is mentioned, rather than
    # letting them guess from the body.
    body["m.mentions"] = {"user_ids": _user_ids(content)} if mentions else {}
    if content.reply_to is not None:
        body["m.relates_to"] = {"m.in_reply_to": {"event_id": content.reply_to.id}}
    return body


def edit_content(target_id: str, content: Content) -> dict[str, Any]:
    new = message_content(
        Content(text=content.text, format=content.format, mentions=content.mentions)
    )
    fallback = dict(new)
    fallback["body"] = f"* {new['body']}"
    if "formatted_body" in new:
        fallback["formatted_body"] = f"* {new['formatted_body']}"
    fallback["m.new_content"] = new
    fallback["m.relates_to"] = {"rel_type": "m.replace", "event_id": target_id}
    return fallback


def reaction_content(target_id: str, emoji: str) -> dict[str, Any]:
    return {"m.relates_to": {"rel_type": "m.annotation", "event_id": target_id, "key": emoji}}


def _msgtype(mime: str) -> str:
    major = mime.split("/", 1)[0]
    return {"image": "m.image", "audio": "m.audio", "video": "m.video"}.get(major, "m.file")


def attachment_content(
    attachment: Attachment,
    size: int,
    *,
    url: str | None = None,
    file: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A file event: ``url`` for plaintext rooms, ``file`` (with keys) for encrypted ones."""
    mime = attachment.content_type
    body: dict[str, Any] = {
        "msgtype": _msgtype(mime),
        "body": attachment.name,
        "filename": attachment.name,
        "info": {"mimetype": mime, "size": size},
    }
    if file is not None:
        body["file"] = file
    else:
        body["url"] = url
    return body
