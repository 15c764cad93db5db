"""Sending methods: send, sendReaction, remoteDelete, sendTyping, sendReceipt.

All of them share signal-cli's result rules: one timestamp per call, one
result per recipient (per member for groups, with ``groupId``), partial
failure is success, and a call where nothing succeeded fails with ``-4``
(only identity failures), ``-5`` (only rate limits) or ``-1``, carrying the
results in ``error.data.response``.
"""

from __future__ import annotations

import base64
import mimetypes
import re
import secrets
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from . import _envelopes as env
from ._call import Call
from ._faults import Failure
from ._network import Account, Group, TrustLevel
from ._params import (
    RATELIMIT_ERROR,
    UNBOXED_NULL_LONG,
    UNTRUSTED_KEY_ERROR,
    USER_ERROR,
    RpcError,
    check_recipient,
    decode_group_id,
    is_uuid,
    null_pointer,
    user_error,
)

#: Group errors that sendTyping reports with the prefix "Failed to send to group: ".
_GROUP_ERRORS = ("Group not found", "User is not a member", "User is not allowed")
_SPEC = re.compile(r"(\d+):(\d+):(.+)", re.DOTALL)
_STYLES = {"NONE", "BOLD", "ITALIC", "SPOILER", "STRIKETHROUGH", "MONOSPACE"}


@attrs.frozen
class Target:
    text: str
    account: Account | None = None
    group: Group | None = None
    by_username: bool = False


def targets(c: Call, *, usernames: bool = True, note_to_self: bool = True) -> list[Target]:
    """The union of recipient(s), groupId(s), username(s) and noteToSelf."""
    found: dict[str, Target] = {}
    for text in c.params.strings("recipient") or []:
        found.setdefault(text, Target(text, c.network.find(check_recipient(text))))
    for gid in c.params.strings("groupId") or []:
        group_id = decode_group_id(gid)
        found.setdefault("group:" + group_id, Target(group_id, group=_group(c, group_id)))
    if usernames:
        for name in c.params.strings("username") or []:
            found.setdefault(
                "u:" + name, Target(name, c.network.find("u:" + name), by_username=True)
            )
    if note_to_self and c.params.boolean("noteToSelf"):
        found.setdefault(c.me.number, Target(c.me.number, c.me))
    if not found:
        raise user_error("No recipients given")
    return list(found.values())


def _group(c: Call, group_id: str) -> Group:
    group = c.network.groups.get(group_id)
    if group is None or c.me.aci not in group.known_by:
        raise user_error(f"Group not found: {group_id}")
    if c.me.aci not in group.members:
        raise user_error(f"User is not a member in group: {group.name} ({group_id})")
    if group.permission_send_message == "ONLY_ADMINS" and c.me.aci not in group.admins:
        raise user_error(f"User is not allowed to send message to group: {group.name} ({group_id})")
    return group


def address(account: Account | None, target: Target | None = None) -> dict[str, Any]:
    if account is None:
        assert target is not None
        text = target.text
        username = text if target.by_username else text[2:] if text.startswith("u:") else None
        return {
            "uuid": text if is_uuid(text) else None,
            "number": text if text.startswith("+") else None,
            "username": username,
        }
    username = account.username if target is not None and target.by_username else None
    return {"uuid": account.aci, "number": account.number, "username": username}


def _result(kind: str, addr: dict[str, Any], group_id: str | None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"recipientAddress": addr}
    if group_id is not None:
        out["groupId"] = group_id
    out["type"] = kind
    out.update({k: v for k, v in extra.items() if v is not None})
    return out


def deliver_one(
    c: Call,
    recipient: Account,
    content: env.Content,
    timestamp: int,
    group_id: str | None = None,
    target: Target | None = None,
) -> dict[str, Any]:
    """Per-recipient outcome: armed faults, registration, identity, then the mailbox."""
    addr = address(recipient, target)
    fault = c.network.faults.take_recipient_failure(recipient.aci)
    if fault is not None:
        return _result(
            fault.failure.wire_type,
            addr,
            group_id,
            token=fault.token,
            retryAfterSeconds=fault.retry_after,
        )
    if not recipient.registered:
        return _result(Failure.UNREGISTERED.value, addr, group_id)
    if c.network.identity(c.me, recipient).trust is TrustLevel.UNTRUSTED:
        return _result(Failure.IDENTITY.value, addr, group_id)
    if recipient.aci != c.me.aci:
        now = c.network.now_ms()
        c.network.submit(recipient, env.Delivery(c.me.aci, c.me.device_id, timestamp, now, content))
    return _result("SUCCESS", addr, group_id)


ContentFor = Callable[[Account | None, Group | None], env.Content]


def fan_out(c: Call, found: list[Target], timestamp: int, content_for: ContentFor) -> list[Any]:
    results: list[Any] = []
    for target in found:
        if target.group is not None:
            group = target.group
            content = content_for(None, group)
            for aci in group.members:
                if aci != c.me.aci:
                    member = c.network.by_aci(aci)
                    results.append(deliver_one(c, member, content, timestamp, group.id))
        elif target.account is None:
            results.append(_result(Failure.UNREGISTERED.value, address(None, target), None))
        else:
            content = content_for(target.account, None)
            results.append(deliver_one(c, target.account, content, timestamp, target=target))
    return results


def outcome(timestamp: int, results: list[Any]) -> dict[str, Any]:
    """The SendResults object, or the error signal-cli raises after printing it."""
    response = {"timestamp": timestamp, "results": results}
    if results and not any(r["type"] == "SUCCESS" for r in results):
        types = {r["type"] for r in results}
        if types == {"IDENTITY_FAILURE"}:
            raise RpcError(
                UNTRUSTED_KEY_ERROR,
                "Failed to send message due to untrusted identities",
                {"response": response},
            )
        if types == {"RATE_LIMIT_FAILURE"}:
            raise RpcError(
                RATELIMIT_ERROR,
                "Failed to send message due to rate limiting",
                {"response": response},
            )
        raise user_error("Failed to send message", response)
    return response


def expiration_for(c: Call, account: Account | None, group: Group | None) -> int:
    if group is not None:
        return group.expiration
    if account is None or account.aci == c.me.aci:
        return 0
    return c.me.contact(account.aci).expiration


def _mentions(c: Call, specs: list[str] | None, *, quote: bool = False) -> tuple[env.Mention, ...]:
    out = []
    for spec in specs or []:
        m = _SPEC.fullmatch(spec)
        if m is None:
            raise user_error(
                f"Invalid mention syntax ({spec}) expected 'start:length:recipientNumber'"
            )
        who = c.resolve(m.group(3))
        if who is None:
            raise user_error(f"The user {m.group(3)} is not registered.")
        out.append(env.Mention(int(m.group(1)), int(m.group(2)), who.aci))
    return tuple(out)


def _styles(specs: list[str] | None) -> tuple[env.TextStyle, ...]:
    out = []
    for spec in specs or []:
        m = _SPEC.fullmatch(spec)
        if m is None:
            raise user_error(f"Invalid textStyle syntax ({spec}) expected 'start:length:STYLE'")
        if m.group(3).upper() not in _STYLES:
            raise user_error(f"Invalid style: {m.group(3)}")
        out.append(env.TextStyle(int(m.group(1)), int(m.group(2)), m.group(3).upper()))
    return tuple(out)


def _attachment(c: Call, spec: str) -> env.Attachment:
    if spec.startswith("data:"):
        header, sep, body = spec[5:].partition(",")
        if not sep:
            raise RpcError(
                -32603,
                f"Failed to send message: Invalid data URI: {spec[:40]} "
                "(AttachmentInvalidException) (UnexpectedErrorException)",
            )
        parts = header.split(";")
        mime = parts[0] or "text/plain"
        filename = next((p[9:] for p in parts if p.startswith("filename=")), None)
        data = base64.b64decode(body) if "base64" in parts else urllib.parse.unquote_to_bytes(body)
    else:
        path = Path(spec)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise RpcError(
                -32603,
                f"Failed to send message: {spec}: {exc.strerror} "
                "(AttachmentInvalidException) (UnexpectedErrorException)",
            ) from None
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        filename = path.name
    ext = mimetypes.guess_extension(mime) or ""
    ident = secrets.token_urlsafe(15) + ext
    c.network.attachments[ident] = data
    return env.Attachment(ident, mime, filename, len(data), c.network.now_ms())


async def send(c: Call) -> Any:
    found = targets(c)
    if c.params.boolean("endSession"):
        return {}
    text = c.params.string("message") or ""
    attachments = tuple(_attachment(c, a) for a in c.params.strings("attachment") or [])
    quote = None
    quote_ts = c.params.long("quoteTimestamp")
    if quote_ts is not None:
        author_text = c.params.string("quoteAuthor")
        if author_text is None:
            raise user_error("Quote author parameter is missing")
        author = c.resolve(author_text)
        if author is None:
            raise user_error(f"The user {author_text} is not registered.")
        quote = env.Quote(
            quote_ts,
            author.aci,
            c.params.string("quoteMessage") or "",
            _mentions(c, c.params.strings("quoteMention")),
            _styles(c.params.strings("quoteTextStyle")),
        )
    sticker = None
    sticker_spec = c.params.string("sticker")
    if sticker_spec is not None:
        m = re.fullmatch(r"([\da-f]+):(\d+)", sticker_spec)
        if m is None or len(m.group(1)) % 2:
            raise user_error(
                f"Invalid sticker syntax ({sticker_spec}) expected 'stickerPackId:stickerId'"
            )
        sticker = (m.group(1), int(m.group(2)))
    if not text and not attachments and sticker is None and quote is None:
        raise user_error(
            "Sending empty message is not allowed, either a message, attachment or sticker "
            "must be given."
        )
    mentions = _mentions(c, c.params.strings("mention"))
    styles = _styles(c.params.strings("textStyle"))
    view_once = c.params.boolean("viewOnce")
    edit_ts = c.params.long("editTimestamp")
    ts = c.network.next_timestamp(c.me)

    def content_for(account: Account | None, group: Group | None) -> env.Content:
        ref = env.GroupRef(group.id) if group is not None else None
        data = env.DataContent(
            ts,
            text or None,
            expiration_for(c, account, group),
            False,
            view_once,
            ref,
            attachments,
            quote,
            mentions,
            styles,
            sticker=sticker,
        )
        return data if edit_ts is None else env.EditContent(edit_ts, data)

    return outcome(ts, fan_out(c, found, ts, content_for))


async def send_reaction(c: Call) -> Any:
    found = targets(c)
    emoji = c.params.string("emoji") or ""
    author_text = c.params.string("targetAuthor")
    if author_text is None and len(found) == 1 and found[0].group is None:
        author = found[0].account
        author_text = found[0].text
    else:
        if author_text is None:
            raise null_pointer()
        author = c.resolve(author_text)
    target_ts = c.params.long("targetTimestamp")
    if target_ts is None:
        raise null_pointer(
            'Cannot invoke "java.lang.Long.longValue()" because "targetTimestamp" is null'
        )
    if author is None and not is_uuid(author_text):
        raise user_error(f"The user {author_text} is not registered.")
    author_aci = author.aci if author is not None else author_text.lower()
    reaction = env.Reaction(emoji, author_aci, target_ts, c.params.boolean("remove"))
    ts = c.network.next_timestamp(c.me)

    def content_for(account: Account | None, group: Group | None) -> env.Content:
        ref = env.GroupRef(group.id) if group is not None else None
        return env.DataContent(
            ts, None, expiration_for(c, account, group), group=ref, reaction=reaction
        )

    return outcome(ts, fan_out(c, found, ts, content_for))


async def remote_delete(c: Call) -> Any:
    found = targets(c)
    target_ts = c.params.long("targetTimestamp")
    if target_ts is None:
        raise null_pointer(UNBOXED_NULL_LONG)
    ts = c.network.next_timestamp(c.me)

    def content_for(account: Account | None, group: Group | None) -> env.Content:
        ref = env.GroupRef(group.id) if group is not None else None
        return env.DataContent(
            ts, None, expiration_for(c, account, group), group=ref, remote_delete=target_ts
        )

    return outcome(ts, fan_out(c, found, ts, content_for))


async def send_typing(c: Call) -> Any:
    try:
        found = targets(c, usernames=False, note_to_self=False)
    except RpcError as exc:
        if exc.code == USER_ERROR and exc.message.startswith(_GROUP_ERRORS):
            raise user_error(f"Failed to send to group: {exc.message}") from None
        raise
    started = not c.params.boolean("stop")
    ts = c.network.next_timestamp(c.me)

    def content_for(account: Account | None, group: Group | None) -> env.Content:
        return env.TypingContent(started, ts, group.id if group is not None else None)

    return outcome(ts, fan_out(c, found, ts, content_for))


async def send_receipt(c: Call) -> Any:
    text = c.params.string("recipient")
    if text is None:
        raise null_pointer()
    kind = c.params.string("type") or "read"
    if kind not in ("read", "viewed"):
        raise user_error(f"Unknown receipt type: {kind}")
    stamps = c.params.longs("targetTimestamp")
    if stamps is None:
        raise null_pointer()
    ts = c.network.next_timestamp(c.me)
    if kind == "read" and not c.me.send_read_receipts:
        return {"timestamp": ts, "results": []}
    content = env.ReceiptContent("read" if kind == "read" else "viewed", stamps, ts)
    target = Target(text, c.resolve(text))
    return outcome(ts, fan_out(c, [target], ts, lambda _a, _g: content))


def send_expiration_update(c: Call, other: Account, seconds: int) -> None:
    """``updateContact`` with ``expiration`` also tells the contact; results are not reported."""
    ts = c.network.next_timestamp(c.me)
    deliver_one(c, other, env.DataContent(ts, None, seconds, is_expiration_update=True), ts)
