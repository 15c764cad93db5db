"""signal-cli ``receive`` payloads as unimsg events.

Pure functions over decoded JSON. `convert` never raises: whatever it cannot
read becomes an `UnknownEvent` that keeps the payload in ``raw``. Message ids
are the sender's timestamps as strings, so a redelivered envelope (a resent
message, a message re-decrypted after ``trust``) gets the same id and the
client's de-duplication applies.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Container
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs

from unimsg import (
    Address,
    Attachment,
    ConversationUpdated,
    EncryptionState,
    EncryptionStateChanged,
    Event,
    Mention,
    MessageDeleted,
    MessageEdited,
    MessageReceived,
    MessageRef,
    ReactionReceived,
    ReceiptKind,
    ReceiptReceived,
    StyleRange,
    TypingChanged,
    UndecryptableMessage,
    UnknownEvent,
)

from ._text import incoming_range, sorted_styles, style_of
from ._values import group_address, millis, person_address, when
from ._values import json_object as _obj
from ._values import nonempty_str as _str

__all__ = [
    "Context",
    "convert",
    "group_address",
    "is_group_update",
    "millis",
    "person_address",
    "when",
]

log = logging.getLogger("unimsg.signal")
_OPTIONAL_PARTS = ("storyMessage", "callMessage", "syncMessage", "receiptMessage", "typingMessage")


@attrs.frozen
class Context:
    """Whose payloads these are, and which timestamps this adapter itself sent."""

    account: Address
    own_sent: Container[int] = frozenset()


def is_group_update(event: Event) -> bool:
    """A ConversationUpdated made from a group-update message (the group state changed)."""
    return isinstance(event, ConversationUpdated) and event.id.startswith("group-")


@attrs.frozen
class _Base:
    """The fields every event of one envelope shares."""

    ctx: Context
    sender: Address
    conversation: Address
    ms: int
    raw: Any

    def common(self, **overrides: Any) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "network": "signal",
            "account": self.ctx.account,
            "conversation": self.conversation,
            "sender": self.sender,
            "id": str(self.ms),
            "timestamp": when(self.ms),
            "raw": self.raw,
        }
        fields.update(overrides)
        return fields

    def ref(self, ms: int, sender: Address) -> MessageRef:
        return MessageRef(
            conversation=self.conversation, id=str(ms), sender=sender, timestamp=when(ms)
        )


def _fingerprint(payload: Any) -> str:
    """The same for the same payload in every run: a hash of its canonical JSON."""
    try:
        text = json.dumps(
            payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=repr
        )
    except Exception:  # keys of mixed types or absurd nesting: fall back to the repr
        try:
            text = repr(payload)
        except Exception:
            text = type(payload).__name__
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:20]


def unknown(payload: Any, ctx: Context, kind: str, base: _Base | None = None) -> UnknownEvent:
    if base is not None:
        return UnknownEvent(**base.common(id=f"{kind}-{base.ms}"), type=kind)
    return UnknownEvent(
        network="signal",
        account=ctx.account,
        conversation=ctx.account,
        sender=ctx.account,
        id=f"unknown-{_fingerprint(payload)}",
        timestamp=datetime.now(UTC),
        raw=payload,
        type=kind,
    )


def convert(payload: Any, ctx: Context) -> list[Event]:
    """The events of one payload object (``{"envelope": …, "account": …}``)."""
    try:
        return _convert(payload, ctx)
    except Exception as exc:  # the receive loop must survive anything the daemon sends
        log.warning("unreadable Signal envelope (%s: %s)", type(exc).__name__, exc)
        return [unknown(payload, ctx, "unreadable")]


def _convert(payload: Any, ctx: Context) -> list[Event]:
    envelope = _obj(payload.get("envelope")) if isinstance(payload, dict) else None
    if envelope is None:
        return [unknown(payload, ctx, "payload")]
    sender = person_address(
        envelope.get("sourceNumber"), envelope.get("sourceUuid"), envelope.get("source")
    )
    ms = millis(envelope.get("timestamp"))
    if sender is None or ms is None:
        return [unknown(payload, ctx, "envelope")]
    base = _Base(ctx, sender, sender, ms, payload)
    problem = _obj(payload.get("exception"))
    if problem is not None:
        return _exception(problem, base)
    data = _obj(envelope.get("dataMessage"))
    if data is not None:
        return _data(data, base, from_self=False)
    edit = _obj(envelope.get("editMessage"))
    if edit is not None:
        return _edit(edit, base)
    sync = _obj(envelope.get("syncMessage"))
    if sync is not None:
        return _sync(sync, base)
    receipt = _obj(envelope.get("receiptMessage"))
    if receipt is not None:
        return _receipt(receipt, base)
    typing = _obj(envelope.get("typingMessage"))
    if typing is not None:
        return _typing(typing, base)
    kind = next((k for k in _OPTIONAL_PARTS if k in envelope), "envelope")
    return [unknown(payload, ctx, kind, base)]


def _exception(problem: dict[str, Any], base: _Base) -> list[Event]:
    kind = _str(problem.get("type")) or "Exception"
    message = _str(problem.get("message")) or kind
    if "UntrustedIdentity" in kind:
        state = EncryptionState(
            encrypted=True,
            scheme="signal",
            can_decrypt=True,
            unverified=(base.sender,),
            changed=(base.sender,),
        )
        return [
            EncryptionStateChanged(
                **base.common(id=f"identity-{base.ms}"), state=state, member=base.sender
            ),
            UndecryptableMessage(
                **base.common(),
                reason=f"the safety number of {base.sender} changed; the message is delivered "
                "again once the new identity is trusted",
            ),
        ]
    return [UndecryptableMessage(**base.common(), reason=f"{kind}: {message}")]


def _ttl(data: dict[str, Any]) -> timedelta | None:
    seconds = data.get("expiresInSeconds")
    if isinstance(seconds, int) and not isinstance(seconds, bool) and seconds > 0:
        return timedelta(seconds=seconds)
    return None


def _styles(text: str, data: dict[str, Any]) -> tuple[StyleRange, ...]:
    out: list[StyleRange] = []
    for item in data.get("textStyles") or []:
        if not isinstance(item, dict):
            continue
        style = style_of(item.get("style"))
        span = incoming_range(text, item.get("start"), item.get("length"))
        if style is not None and span is not None:
            out.append(StyleRange(span[0], span[1], style))
    return sorted_styles(out)


def _mentions(text: str, data: dict[str, Any]) -> tuple[Mention, ...]:
    out: list[Mention] = []
    for item in data.get("mentions") or []:
        if not isinstance(item, dict):
            continue
        user = person_address(item.get("number"), item.get("uuid"), item.get("name"))
        span = incoming_range(text, item.get("start"), item.get("length"))
        if user is not None and span is not None:
            out.append(Mention(user, span[0], span[1]))
    return tuple(out)


def _attachments(data: dict[str, Any]) -> tuple[Attachment, ...]:
    out: list[Attachment] = []
    for item in data.get("attachments") or []:
        ident = _str(item.get("id")) if isinstance(item, dict) else None
        if ident is None:
            continue
        assert isinstance(item, dict)
        size = item.get("size")
        out.append(
            Attachment(
                source=ident,
                filename=_str(item.get("filename")),
                mime_type=_str(item.get("contentType")),
                size=size if isinstance(size, int) and not isinstance(size, bool) else None,
            )
        )
    return tuple(out)


def _quote(data: dict[str, Any], base: _Base) -> MessageRef | None:
    quote = _obj(data.get("quote"))
    if quote is None:
        return None
    ms = millis(quote.get("id"))
    author = person_address(quote.get("authorNumber"), quote.get("authorUuid"), quote.get("author"))
    return None if ms is None or author is None else base.ref(ms, author)


def _data(data: dict[str, Any], base: _Base, *, from_self: bool) -> list[Event]:
    group = _obj(data.get("groupInfo"))
    if group is not None:
        address = group_address(group.get("groupId"))
        if address is None:
            return [unknown(base.raw, base.ctx, "groupInfo", base)]
        base = attrs.evolve(base, conversation=address)
        if group.get("type") == "UPDATE":
            name = _str(group.get("groupName"))
            return [ConversationUpdated(**base.common(id=f"group-{base.ms}"), name=name)]
    ms = millis(data.get("timestamp")) or base.ms
    base = attrs.evolve(base, ms=ms)
    reaction = _obj(data.get("reaction"))
    if reaction is not None:
        target_ms = millis(reaction.get("targetSentTimestamp"))
        author = person_address(
            reaction.get("targetAuthorNumber"),
            reaction.get("targetAuthorUuid"),
            reaction.get("targetAuthor"),
        )
        emoji = _str(reaction.get("emoji"))
        if target_ms is None or author is None or emoji is None:
            return [unknown(base.raw, base.ctx, "reaction", base)]
        return [
            ReactionReceived(
                **base.common(),
                target=base.ref(target_ms, author),
                emoji=emoji,
                removed=reaction.get("isRemove") is True,
                from_self=from_self,
            )
        ]
    deleted = _obj(data.get("remoteDelete"))
    if deleted is not None:
        target_ms = millis(deleted.get("timestamp"))
        if target_ms is None:
            return [unknown(base.raw, base.ctx, "remoteDelete", base)]
        target = base.ref(target_ms, base.sender)
        return [MessageDeleted(**base.common(), target=target, from_self=from_self)]
    if data.get("isExpirationUpdate") is True:
        ttl = _ttl(data)
        return [
            ConversationUpdated(
                **base.common(id=f"timer-{ms}"), disappearing=ttl, disappearing_changed=True
            )
        ]
    text = data.get("message") if isinstance(data.get("message"), str) else ""
    assert isinstance(text, str)
    attachments = _attachments(data)
    reply_to = _quote(data, base)
    if not text and not attachments and reply_to is None:
        kind = next((k for k in data if isinstance(data[k], (dict, list))), "dataMessage")
        return [unknown(base.raw, base.ctx, kind, base)]
    return [
        MessageReceived(
            **base.common(),
            text=text,
            styles=_styles(text, data),
            mentions=_mentions(text, data),
            attachments=attachments,
            reply_to=reply_to,
            from_self=from_self,
            encrypted=True,
            expires_in=_ttl(data),
        )
    ]


def _edit(edit: dict[str, Any], base: _Base) -> list[Event]:
    target_ms = millis(edit.get("targetSentTimestamp"))
    data = _obj(edit.get("dataMessage"))
    if target_ms is None or data is None:
        return [unknown(base.raw, base.ctx, "editMessage", base)]
    address = group_address((_obj(data.get("groupInfo")) or {}).get("groupId"))
    if address is not None:
        base = attrs.evolve(base, conversation=address)
    base = attrs.evolve(base, ms=millis(data.get("timestamp")) or base.ms)
    text = data.get("message") if isinstance(data.get("message"), str) else ""
    assert isinstance(text, str)
    return [
        MessageEdited(
            **base.common(),
            target=base.ref(target_ms, base.sender),
            text=text,
            styles=_styles(text, data),
            mentions=_mentions(text, data),
        )
    ]


def _sync(sync: dict[str, Any], base: _Base) -> list[Event]:
    sent = _obj(sync.get("sentMessage"))
    if sent is None:
        kind = next((k for k in sync if sync[k] is not None), None)
        return [unknown(base.raw, base.ctx, f"syncMessage.{kind}" if kind else "syncMessage", base)]
    ms = millis(sent.get("timestamp"))
    if ms is not None and ms in base.ctx.own_sent:
        return []  # this adapter sent it; the daemon only tells our other devices
    me = base.ctx.account
    destination = person_address(
        sent.get("destinationNumber"), sent.get("destinationUuid"), sent.get("destination")
    )
    base = attrs.evolve(base, sender=me, conversation=destination or me)
    edit = _obj(sent.get("editMessage"))
    if edit is not None:
        return _edit(edit, base)
    return _data(sent, base, from_self=True)


def _receipt(receipt: dict[str, Any], base: _Base) -> list[Event]:
    if receipt.get("isRead") is True:
        kind = ReceiptKind.READ
    elif receipt.get("isViewed") is True:
        kind = ReceiptKind.VIEWED
    elif receipt.get("isDelivery") is True:
        kind = ReceiptKind.DELIVERED
    else:
        return [unknown(base.raw, base.ctx, "receiptMessage", base)]
    stamps = receipt.get("timestamps")
    targets = tuple(
        base.ref(ms, base.ctx.account)
        for ms in (millis(t) for t in (stamps if isinstance(stamps, list) else []))
        if ms is not None
    )
    return [
        ReceiptReceived(**base.common(id=f"{kind.value}-{base.ms}"), kind=kind, targets=targets)
    ]


def _typing(typing: dict[str, Any], base: _Base) -> list[Event]:
    action = typing.get("action")
    if action not in ("STARTED", "STOPPED"):
        return [unknown(base.raw, base.ctx, "typingMessage", base)]
    address = group_address(typing.get("groupId"))
    if address is not None:
        base = attrs.evolve(base, conversation=address)
    return [TypingChanged(**base.common(id=f"typing-{base.ms}"), typing=action == "STARTED")]
