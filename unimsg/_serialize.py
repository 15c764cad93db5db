"""Content and references as JSON, for the outbox and other durable state."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from ._address import Address
from ._attachment import Attachment
from ._styles import Mention
from ._types import Content, MessageRef

__all__ = ["content_from_json", "content_to_json", "ref_from_json", "ref_to_json"]


def ref_to_json(ref: MessageRef) -> dict[str, Any]:
    return {
        "conversation": str(ref.conversation),
        "id": ref.id,
        "sender": str(ref.sender),
        "timestamp": ref.timestamp.isoformat(),
    }


def ref_from_json(data: dict[str, Any]) -> MessageRef:
    return MessageRef(
        conversation=Address.parse(data["conversation"]),
        id=data["id"],
        sender=Address.parse(data["sender"]),
        timestamp=datetime.fromisoformat(data["timestamp"]),
    )


def _attachment_to_json(attachment: Attachment) -> dict[str, Any]:
    return {
        "data": None if attachment.data is None else base64.b64encode(attachment.data).decode(),
        "path": None if attachment.path is None else str(attachment.path),
        "filename": attachment.filename,
        "mime_type": attachment.mime_type,
        "source": attachment.source,
    }


def _attachment_from_json(data: dict[str, Any]) -> Attachment:
    raw = data.get("data")
    return Attachment(
        data=None if raw is None else base64.b64decode(raw),
        path=data.get("path"),
        filename=data.get("filename"),
        mime_type=data.get("mime_type"),
        source=data.get("source"),
    )


def content_to_json(content: Content) -> dict[str, Any]:
    return {
        "text": content.text,
        "format": content.format,
        "mentions": [[str(m.user), m.start, m.length] for m in content.mentions],
        "attachments": [_attachment_to_json(a) for a in content.attachments],
        "reply_to": None if content.reply_to is None else ref_to_json(content.reply_to),
    }


def content_from_json(data: dict[str, Any]) -> Content:
    reply = data.get("reply_to")
    return Content(
        text=data.get("text", ""),
        format=data.get("format", "plain"),
        mentions=[Mention(Address.parse(u), s, n) for u, s, n in data.get("mentions", [])],
        attachments=[_attachment_from_json(a) for a in data.get("attachments", [])],
        reply_to=None if reply is None else ref_from_json(reply),
    )
