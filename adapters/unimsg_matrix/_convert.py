"""Matrix events (raw JSON as nio hands it over) to unimsg events.

Conversion never raises: whatever cannot be mapped, including malformed
events, becomes `UnknownEvent` with the raw payload attached, so a hostile or
buggy sender cannot stop the sync loop.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import re
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from unimsg import (
    Address,
    Attachment,
    ConversationUpdated,
    EncryptionState,
    EncryptionStateChanged,
    Event,
    Membership,
    MembershipChanged,
    Mention,
    MessageDeleted,
    MessageEdited,
    MessageReceived,
    MessageRef,
    ReactionReceived,
    ReceiptKind,
    ReceiptReceived,
    TypingChanged,
    UndecryptableMessage,
    UnknownEvent,
)

__all__ = ["Converter", "content_id", "timestamp"]

log = logging.getLogger("unimsg.matrix")

_ATTACHMENT_TYPES = {"m.image", "m.file", "m.audio", "m.video"}
_TEXT_TYPES = {"m.text", "m.notice", "m.emote"}
_PILL = re.compile(r'<a\s+href="https://matrix\.to/#/(@[^"]+)"\s*>(.*?)</a>', re.S)
_MX_REPLY = re.compile(r"<mx-reply>.*?</mx-reply>", re.S)
_REMEMBERED_REACTIONS = 4096


def timestamp(value: object) -> datetime:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        try:
            return datetime.fromtimestamp(value / 1000, UTC)
        except (OverflowError, OSError, ValueError):
            pass
    return datetime.now(UTC)


def content_id(room_id: str, source: Mapping[str, Any]) -> str:
    """An id for an event the server sent without one, the same in every run.

    Derived from the room and the whole event (sender, type, timestamp,
    content) in canonical JSON, so a redelivery de-duplicates like any event.
    """
    try:
        text = json.dumps(
            [room_id, source],
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            default=repr,
        )
    except (TypeError, ValueError, RecursionError):
        # Keys of mixed types or absurd nesting: the repr is still the same every run.
        text = repr((room_id, source))
    return "matrix-event:" + hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:32]


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _strip_fallback(body: str) -> str:
    """Drop the quoted original that older clients put in front of a reply."""
    lines = body.split("\n")
    if not lines or not lines[0].startswith("> "):
        return body
    for index, line in enumerate(lines):
        if not line.startswith(">"):
            return "\n".join(lines[index + 1 if line == "" else index :])
    return ""


class Converter:
    """Converts the events of one account; remembers reactions to map their redaction."""

    def __init__(self, account: Address) -> None:
        self.account = account
        self._reactions: OrderedDict[str, tuple[MessageRef, str]] = OrderedDict()

    def remember_reaction(self, event_id: str, target: MessageRef, emoji: str) -> None:
        self._reactions[event_id] = (target, emoji)
        while len(self._reactions) > _REMEMBERED_REACTIONS:
            self._reactions.popitem(last=False)

    # -- timeline ----------------------------------------------------------------------

    def timeline(
        self,
        room_id: str,
        source: Mapping[str, Any],
        *,
        encrypted: bool,
        from_self: bool,
        undecryptable: str | None = None,
    ) -> Event:
        """One timeline event; ``undecryptable`` is the session id of a failed decryption."""
        try:
            return self._timeline(room_id, dict(source), encrypted, from_self, undecryptable)
        except Exception as exc:
            log.debug("cannot convert a %r event: %s", source.get("type"), type(exc).__name__)
            return self._unknown(room_id, dict(source) if isinstance(source, Mapping) else {})

    def _common(self, room_id: str, source: dict[str, Any]) -> dict[str, Any]:
        sender = _str(source.get("sender"))
        return {
            "network": "matrix",
            "account": self.account,
            "conversation": Address.matrix(room_id),
            "sender": Address.matrix(sender) if sender else self.account,
            "id": _str(source.get("event_id")) or content_id(room_id, source),
            "timestamp": timestamp(source.get("origin_server_ts")),
            "raw": source,
        }

    def _unknown(self, room_id: str, source: dict[str, Any]) -> UnknownEvent:
        try:
            common = self._common(room_id, source)
        except Exception:
            common = {
                "network": "matrix",
                "account": self.account,
                "conversation": self.account,
                "sender": self.account,
                "id": content_id(room_id, source),
                "timestamp": timestamp(source.get("origin_server_ts")),
                "raw": source,
            }
        return UnknownEvent(**common, type=_str(source.get("type")) or "?")

    def _ref(self, room_id: str, event_id: str, sender: Address, when: datetime) -> MessageRef:
        return MessageRef(
            conversation=Address.matrix(room_id), id=event_id, sender=sender, timestamp=when
        )

    def _timeline(
        self,
        room_id: str,
        source: dict[str, Any],
        encrypted: bool,
        from_self: bool,
        undecryptable: str | None,
    ) -> Event:
        common = self._common(room_id, source)
        kind = source.get("type")
        content = _dict(source.get("content"))
        if undecryptable is not None or kind == "m.room.encrypted":
            return UndecryptableMessage(
                **common,
                reason="no key to decrypt this message (yet)",
                session_id=undecryptable or _str(content.get("session_id")),
            )
        relates = _dict(content.get("m.relates_to"))
        if kind == "m.room.message" and relates.get("rel_type") == "m.replace":
            return self._edit(room_id, common, content, relates)
        if kind == "m.room.message":
            return self._message(room_id, common, content, relates, encrypted, from_self)
        if kind == "m.reaction":
            target_id, emoji = _str(relates.get("event_id")), _str(relates.get("key"))
            if relates.get("rel_type") != "m.annotation" or not target_id or emoji is None:
                return self._unknown(room_id, source)
            target = self._ref(room_id, target_id, self.account, common["timestamp"])
            self.remember_reaction(common["id"], target, emoji)
            return ReactionReceived(**common, target=target, emoji=emoji)
        if kind == "m.room.redaction":
            redacts = _str(source.get("redacts")) or _str(content.get("redacts"))
            if not redacts:
                return self._unknown(room_id, source)
            known = self._reactions.pop(redacts, None)
            if known is not None:
                target, emoji = known
                return ReactionReceived(**common, target=target, emoji=emoji, removed=True)
            target = self._ref(room_id, redacts, common["sender"], common["timestamp"])
            return MessageDeleted(**common, target=target)
        if kind == "m.room.member":
            return self._member(room_id, source, common, content)
        if kind in ("m.room.name", "m.room.topic"):
            if kind == "m.room.name":
                return ConversationUpdated(**common, name=_str(content.get("name")))
            return ConversationUpdated(**common, topic=_str(content.get("topic")))
        if kind == "m.room.encryption":
            algorithm = _str(content.get("algorithm"))
            state = EncryptionState(encrypted=True, scheme=algorithm, can_decrypt=True)
            return EncryptionStateChanged(**common, state=state)
        return self._unknown(room_id, source)

    def _message(
        self,
        room_id: str,
        common: dict[str, Any],
        content: dict[str, Any],
        relates: dict[str, Any],
        encrypted: bool,
        from_self: bool,
    ) -> Event:
        msgtype = content.get("msgtype")
        body = _str(content.get("body"))
        if body is None:
            # A redacted message keeps its envelope but loses its content.
            return self._unknown(room_id, common["raw"])
        reply_id = _str(_dict(relates.get("m.in_reply_to")).get("event_id"))
        reply_to = None
        html_body = self._html(content)
        if reply_id:
            reply_to = self._ref(room_id, reply_id, self.account, common["timestamp"])
            body = _strip_fallback(body)
            if html_body is not None:
                html_body = _MX_REPLY.sub("", html_body)
        attachments: tuple[Attachment, ...] = ()
        if msgtype in _ATTACHMENT_TYPES:
            attachment = self._attachment(content, body)
            if attachment is None:
                return self._unknown(room_id, common["raw"])
            attachments = (attachment,)
            # The body of a file event is its name unless a caption was given.
            filename = _str(content.get("filename"))
            body = body if filename and filename != body else ""
        elif msgtype not in _TEXT_TYPES:
            return self._unknown(room_id, common["raw"])
        return MessageReceived(
            **common,
            text=body,
            html=html_body,
            mentions=self._mentions(body, html_body, content),
            attachments=attachments,
            reply_to=reply_to,
            from_self=from_self,
            encrypted=encrypted,
        )

    @staticmethod
    def _html(content: dict[str, Any]) -> str | None:
        if content.get("format") != "org.matrix.custom.html":
            return None
        return _str(content.get("formatted_body"))

    def _edit(
        self,
        room_id: str,
        common: dict[str, Any],
        content: dict[str, Any],
        relates: dict[str, Any],
    ) -> Event:
        target_id = _str(relates.get("event_id"))
        new = _dict(content.get("m.new_content"))
        text = _str(new.get("body"))
        if not target_id or text is None:
            return self._unknown(room_id, common["raw"])
        # Only the author may edit a message, so the target's sender is the editor.
        target = self._ref(room_id, target_id, common["sender"], common["timestamp"])
        html_body = self._html(new)
        return MessageEdited(
            **common,
            target=target,
            text=text,
            html=html_body,
            mentions=self._mentions(text, html_body, new),
        )

    @staticmethod
    def _attachment(content: dict[str, Any], body: str) -> Attachment | None:
        info = _dict(content.get("info"))
        secrets = _dict(content.get("file")) or None
        source = _str(content.get("url")) or (_str(secrets.get("url")) if secrets else None)
        if not source:
            return None
        size = info.get("size")
        return Attachment(
            source=source,
            filename=_str(content.get("filename")) or body or None,
            mime_type=_str(info.get("mimetype")),
            size=size if isinstance(size, int) else None,
            secrets=secrets,
        )

    @staticmethod
    def _mentions(text: str, html_body: str | None, content: dict[str, Any]) -> tuple[Mention, ...]:
        found: list[Mention] = []
        taken: set[str] = set()
        pos = 0
        for user_id, label in _PILL.findall(html_body or ""):
            label = html.unescape(re.sub(r"<[^>]+>", "", label))
            start = text.find(label, pos) if label else -1
            if start < 0:
                continue
            try:
                user = Address.matrix(html.unescape(user_id))
            except ValueError:
                continue
            found.append(Mention(user, start, len(label)))
            taken.add(user.id)
            pos = start + len(label)
        user_ids = _dict(content.get("m.mentions")).get("user_ids")
        for user_id in user_ids if isinstance(user_ids, list) else ():
            if not isinstance(user_id, str) or user_id in taken:
                continue
            start = text.find(user_id)
            if start >= 0:
                try:
                    found.append(Mention(Address.matrix(user_id), start, len(user_id)))
                except ValueError:
                    continue
        return tuple(found)

    def _member(
        self, room_id: str, source: dict[str, Any], common: dict[str, Any], content: dict[str, Any]
    ) -> Event:
        member = _str(source.get("state_key"))
        membership = content.get("membership")
        previous = _dict(_dict(source.get("unsigned")).get("prev_content")).get("membership")
        if not member or (membership == previous == "join"):
            # A display name or avatar change is not a membership change.
            return self._unknown(room_id, source)
        kinds = {"invite": Membership.INVITED, "join": Membership.JOINED, "ban": Membership.BANNED}
        if membership == "leave":
            kind = Membership.LEFT if common["sender"].id == member else Membership.KICKED
        elif membership in kinds:
            kind = kinds[membership]
        else:
            return self._unknown(room_id, source)
        return MembershipChanged(**common, member=Address.matrix(member), membership=kind)

    # -- invites and ephemeral events -------------------------------------------------------

    def invite(self, room_id: str, inviter: str | None, when: datetime) -> MembershipChanged:
        sender = Address.matrix(inviter) if inviter else self.account
        return MembershipChanged(
            network="matrix",
            account=self.account,
            conversation=Address.matrix(room_id),
            sender=sender,
            id=f"invite:{room_id}",
            timestamp=when,
            member=self.account,
            membership=Membership.INVITED,
        )

    def typing(self, room_id: str, user_id: str, typing: bool) -> TypingChanged:
        now = datetime.now(UTC)
        return TypingChanged(
            network="matrix",
            account=self.account,
            conversation=Address.matrix(room_id),
            sender=Address.matrix(user_id),
            id=f"typing:{room_id}:{user_id}:{now.timestamp()}",
            timestamp=now,
            typing=typing,
        )

    def receipts(self, room_id: str, receipts: Iterable[Any], own_user: str) -> list[Event]:
        events: list[Event] = []
        for receipt in receipts:
            try:
                user, event_id = receipt.user_id, receipt.event_id
                kind = getattr(receipt.receipt_type, "value", receipt.receipt_type)
                if user == own_user or kind not in ("m.read", "m.read.private"):
                    continue
                when = timestamp(receipt.timestamp)
                target = self._ref(room_id, event_id, self.account, when)
                events.append(
                    ReceiptReceived(
                        network="matrix",
                        account=self.account,
                        conversation=Address.matrix(room_id),
                        sender=Address.matrix(user),
                        id=f"receipt:{room_id}:{user}:{event_id}",
                        timestamp=when,
                        kind=ReceiptKind.READ,
                        targets=(target,),
                    )
                )
            except (AttributeError, ValueError, TypeError):
                continue
        return events
