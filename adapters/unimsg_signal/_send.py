"""Parameters of signal-cli's sending methods, and their results as receipts.

Pure functions. Addressing follows signal-cli's rules: people by number or ACI
in ``recipient``, usernames in ``username`` (without ``u:``), groups in
``groupId`` — never two kinds at once, since signal-cli sends to the union.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from unimsg import (
    Address,
    AddressKind,
    Attachment,
    Content,
    InvalidAddressError,
    InvalidContentError,
    MessageRef,
    RecipientResult,
    RemoteProtocolError,
    SentMessage,
)

from ._errors import delivered_to, parse_results, send_failure
from ._text import mention_specs, render, style_specs
from ._values import MAX_MS, millis, when

__all__ = [
    "data_uri",
    "delete_params",
    "message_params",
    "reaction_params",
    "receipt",
    "receipt_params",
    "target_params",
    "timestamp_of",
    "typing_params",
]

Params = dict[str, Any]


def target_params(to: Address) -> Params:
    """Where a message goes: exactly one of recipient, username, groupId."""
    if to.network != "signal":
        raise InvalidAddressError(f"{to} is not a Signal address")
    if to.kind is AddressKind.GROUP:
        return {"groupId": to.id}
    if to.kind is AddressKind.USERNAME:
        return {"username": [to.id]}
    if to.kind is AddressKind.USER:
        return {"recipient": [to.id]}
    raise InvalidAddressError(f"{to} is neither a Signal user nor a group")


def timestamp_of(ref: MessageRef) -> int:
    """The Signal timestamp a ref points at (its id; the datetime as a fallback)."""
    if ref.id.isdigit():
        ms = millis(int(ref.id))
        if ms is not None:
            return ms
    return round(ref.timestamp.timestamp() * 1000)


def _author(address: Address) -> str:
    if address.kind is AddressKind.USERNAME:
        return f"u:{address.id}"
    if address.kind is not AddressKind.USER:
        raise InvalidAddressError(f"{address} cannot author a Signal message")
    return address.id


def _safe_filename(name: str) -> str:
    # ';' and ',' end the parameter list of a data URI; signal-cli does not unescape names.
    return "".join("_" if ch in ";,\r\n" else ch for ch in name)


def data_uri(attachment: Attachment) -> str:
    """RFC 2397 ``data:`` URI with the file name, which signal-cli sends as an upload."""
    data = attachment.read()
    mime = attachment.content_type.replace(";", "").replace(",", "")
    return (
        f"data:{mime};filename={_safe_filename(attachment.name)};base64,"
        f"{base64.b64encode(data).decode('ascii')}"
    )


def message_params(content: Content, to: Address, *, edit_of: MessageRef | None = None) -> Params:
    """``send`` params for a message, a reply (quote) or an edit."""
    params = target_params(to)
    if content.format == "plain" and not content.mentions:
        text = params["message"] = content.text
    else:
        text, styles, mentions = render(content)
        params["message"] = text
        if styles:
            params["textStyle"] = style_specs(text, styles)
        if mentions:
            params["mention"] = mention_specs(text, mentions)
    if content.attachments:
        params["attachment"] = [data_uri(a) for a in content.attachments]
    reply = content.reply_to
    if reply is not None:
        params["quoteTimestamp"] = timestamp_of(reply)
        params["quoteAuthor"] = _author(reply.sender)
    if edit_of is not None:
        params["editTimestamp"] = timestamp_of(edit_of)
    if not text and not content.attachments:
        raise InvalidContentError("Signal refuses empty messages: give text or an attachment")
    return params


def reaction_params(target: MessageRef, emoji: str, remove: bool) -> Params:
    if not emoji:
        raise InvalidContentError("a reaction needs an emoji")
    return {
        **target_params(target.conversation),
        "emoji": emoji,
        "targetAuthor": _author(target.sender),
        "targetTimestamp": timestamp_of(target),
        "remove": remove,
    }


def delete_params(target: MessageRef) -> Params:
    return {**target_params(target.conversation), "targetTimestamp": timestamp_of(target)}


def typing_params(conversation: Address, typing: bool) -> Params:
    """``sendTyping`` takes no usernames; resolve them to an ACI first."""
    params = target_params(conversation)
    if "username" in params:
        raise InvalidAddressError("sendTyping needs a number, an ACI or a group, not a username")
    return {**params, "stop": not typing}


def receipt_params(target: MessageRef) -> Params:
    """A read receipt goes to the original sender only (a single ``recipient``)."""
    return {
        "recipient": _author(target.sender),
        "targetTimestamp": [timestamp_of(target)],
        "type": "read",
    }


def _one_delivered(result: dict[str, Any]) -> tuple[int, RecipientResult] | None:
    """The timestamp and result of the usual answer (one recipient, delivered, named by
    number), read without the general path's layers; ``None`` for anything else."""
    ms, items = result.get("timestamp"), result.get("results")
    if type(ms) is not int or not 0 <= ms < MAX_MS or type(items) is not list or len(items) != 1:
        return None
    item = items[0]
    if type(item) is not dict or item.get("type") != "SUCCESS" or "retryAfterSeconds" in item:
        return None
    address = item.get("recipientAddress")
    number = address.get("number") if type(address) is dict else None
    delivered = delivered_to(number) if type(number) is str and number else None
    return None if delivered is None else (ms, delivered)


def receipt(
    result: Any,
    conversation: Address,
    sender: Address,
    *,
    what: str = "message",
    fallback_time: datetime | None = None,
) -> SentMessage:
    """The SentMessage of a SendResults object; raises if nobody was reached."""
    usual = _one_delivered(result) if type(result) is dict else None
    if usual is not None:
        stamp_ms, delivered = usual
        return SentMessage(
            conversation=conversation,
            id=str(stamp_ms),
            sender=sender,
            timestamp=when(stamp_ms),
            recipients=(delivered,),
        )
    ms = millis(result.get("timestamp")) if isinstance(result, dict) else None
    recipients: Sequence[RecipientResult] = parse_results(result, conversation)
    if recipients and not any(r.ok for r in recipients):
        raise send_failure(recipients, result, what)
    if ms is None:
        if fallback_time is None:
            raise RemoteProtocolError(f"signal-cli answered a {what} without a timestamp")
        stamp = fallback_time
        ident = str(round(stamp.timestamp() * 1000))
    else:
        stamp, ident = when(ms), str(ms)
    return SentMessage(
        conversation=conversation,
        id=ident,
        sender=sender,
        timestamp=stamp,
        recipients=recipients,
    )
