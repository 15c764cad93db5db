"""Frozen value types shared by the client, the adapters and applications."""

from __future__ import annotations

import enum
import mimetypes
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

import attrs

from ._address import Address
from ._exceptions import InvalidContentError

__all__ = [
    "Attachment",
    "Capabilities",
    "Content",
    "Conversation",
    "EncryptionState",
    "Mention",
    "MessageRef",
    "RecipientResult",
    "SendStatus",
    "SentMessage",
    "StyleRange",
    "TextStyle",
    "UserInfo",
]


class TextStyle(enum.Enum):
    """Inline styles both networks can carry."""

    BOLD = "BOLD"
    ITALIC = "ITALIC"
    STRIKETHROUGH = "STRIKETHROUGH"
    MONOSPACE = "MONOSPACE"
    SPOILER = "SPOILER"


@attrs.frozen
class StyleRange:
    """A style over ``text[start:start + length]`` (offsets in code points)."""

    start: int
    length: int
    style: TextStyle


@attrs.frozen
class Mention:
    """``text[start:start + length]`` (code points) names ``user``."""

    user: Address
    start: int
    length: int


def _mentions(values: Iterable[Mention]) -> tuple[Mention, ...]:
    return tuple(values)


def _attachments(values: Iterable[Attachment]) -> tuple[Attachment, ...]:
    return tuple(values)


def _results(values: Iterable[RecipientResult]) -> tuple[RecipientResult, ...]:
    return tuple(values)


def addresses(values: Iterable[Address | str]) -> tuple[Address, ...]:
    return tuple(Address.parse(v) for v in values)


def _to_bytes(value: bytes | bytearray | memoryview | None) -> bytes | None:
    return None if value is None else bytes(value)


def _to_path(value: str | Path | None) -> Path | None:
    return None if value is None else Path(value)


@attrs.frozen(kw_only=True)
class Attachment:
    """A file to send (``data`` or ``path``) or one that was received (``source``).

    Received attachments carry the network's handle in ``source`` (an ``mxc://``
    URI, a signal-cli attachment id); fetch the bytes with ``Client.download``.
    """

    data: bytes | None = attrs.field(default=None, converter=_to_bytes, repr=False)
    path: Path | None = attrs.field(default=None, converter=_to_path)
    filename: str | None = None
    mime_type: str | None = None
    size: int | None = None
    source: str | None = None
    #: Network-specific decryption material (Matrix encrypted files).
    secrets: object = attrs.field(default=None, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        if self.data is None and self.path is None and self.source is None:
            raise InvalidContentError("an attachment needs data, a path or a source")

    @property
    def name(self) -> str:
        if self.filename:
            return self.filename
        if self.path is not None:
            return self.path.name
        return "attachment"

    @property
    def content_type(self) -> str:
        if self.mime_type:
            return self.mime_type
        guessed, _ = mimetypes.guess_type(self.name)
        return guessed or "application/octet-stream"

    def read(self) -> bytes:
        """The bytes to send (reads ``path`` when no ``data`` was given)."""
        if self.data is not None:
            return self.data
        if self.path is not None:
            return self.path.read_bytes()
        raise InvalidContentError("a received attachment must be downloaded first")


@attrs.frozen(kw_only=True)
class MessageRef:
    """Enough to point at a message on its network: reply, react, edit, delete.

    Signal identifies a message by author and timestamp, Matrix by event id:
    a ref carries both so that every adapter finds what it needs.
    """

    conversation: Address
    id: str
    sender: Address
    timestamp: datetime


#: The values of ``Content.format``.
FORMATS = ("plain", "markdown")


@attrs.frozen(kw_only=True)
class Content:
    """What a message says. ``format='markdown'`` is rendered per network."""

    text: str = ""
    format: Literal["plain", "markdown"] = "plain"
    mentions: tuple[Mention, ...] = attrs.field(default=(), converter=_mentions)
    attachments: tuple[Attachment, ...] = attrs.field(default=(), converter=_attachments)
    reply_to: MessageRef | None = None

    def __attrs_post_init__(self) -> None:
        if self.format not in FORMATS:
            choices = " or ".join(repr(f) for f in FORMATS)
            raise InvalidContentError(f"unknown format {self.format!r}: use {choices}")
        if not self.text and not self.attachments:
            raise InvalidContentError("a message needs text or at least one attachment")
        for mention in self.mentions:
            if (
                mention.start < 0
                or mention.length <= 0
                or mention.start + mention.length > len(self.text)
            ):
                raise InvalidContentError(
                    f"mention of {mention.user} at {mention.start}+{mention.length} lies outside "
                    f"the text ({len(self.text)} characters)"
                )


class SendStatus(enum.Enum):
    """One recipient's outcome of a send."""

    DELIVERED = "delivered"
    NETWORK_FAILURE = "network_failure"
    UNREGISTERED = "unregistered"
    UNTRUSTED_IDENTITY = "untrusted_identity"
    RATE_LIMITED = "rate_limited"
    CAPTCHA_REQUIRED = "captcha_required"


@attrs.frozen(kw_only=True)
class RecipientResult:
    recipient: Address
    status: SendStatus
    detail: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is SendStatus.DELIVERED


@attrs.frozen(kw_only=True)
class SentMessage:
    """The network's receipt for a message (or reaction, or edit) sent."""

    conversation: Address
    id: str
    sender: Address
    timestamp: datetime
    recipients: tuple[RecipientResult, ...] = attrs.field(default=(), converter=_results)

    @property
    def ref(self) -> MessageRef:
        return MessageRef(
            conversation=self.conversation, id=self.id, sender=self.sender, timestamp=self.timestamp
        )

    @property
    def failed(self) -> tuple[RecipientResult, ...]:
        """Recipients the message did not reach (a partial failure when non-empty)."""
        return tuple(r for r in self.recipients if not r.ok)


@attrs.frozen(kw_only=True)
class EncryptionState:
    """How a conversation is protected, as far as this account can tell."""

    encrypted: bool
    #: ``"signal"``, ``"m.megolm.v1.aes-sha2"`` or ``None`` when not encrypted.
    scheme: str | None = None
    #: Whether this client holds the keys to read what arrives.
    can_decrypt: bool = False
    #: Members with devices or identities this account has not verified.
    unverified: tuple[Address, ...] = attrs.field(default=(), converter=addresses)
    #: Members whose identity (safety number, device keys) changed.
    changed: tuple[Address, ...] = attrs.field(default=(), converter=addresses)
    #: Whether this account's own device is verified by its owner, so that other
    #: members' clients trust what it sends (Matrix: signed by the account's
    #: cross-signing key); None where the network has no such notion.
    own_device_verified: bool | None = None

    @property
    def trusted(self) -> bool:
        return not self.unverified and not self.changed


@attrs.frozen(kw_only=True)
class Conversation:
    """A direct chat or a group/room, with what this account knows of it."""

    address: Address
    name: str | None = None
    direct: bool = False
    members: tuple[Address, ...] = attrs.field(default=(), converter=addresses)
    encrypted: bool = False
    topic: str | None = None
    disappearing: timedelta | None = None
    #: True when this account is invited but has not joined.
    invited: bool = False

    @property
    def network(self) -> str:
        return self.address.network


@attrs.frozen(kw_only=True)
class UserInfo:
    """A user found by ``find_users``."""

    address: Address
    display_name: str | None = None
    registered: bool | None = None
    extra: tuple[Address, ...] = attrs.field(default=(), converter=addresses)


@attrs.frozen(kw_only=True)
class Capabilities:
    """What an adapter supports, derived from its class (`unimsg.capabilities_of`).

    The client raises ``NotSupportedError`` for what is ``False``.
    """

    markdown: bool = False
    mentions: bool = False
    replies: bool = False
    reactions: bool = False
    edits: bool = False
    deletes: bool = False
    threads: bool = False
    typing: bool = False
    receipts: bool = False
    attachments: bool = False
    disappearing_messages: bool = False
    directory_search: bool = False
    conversations: bool = False
    create_conversation: bool = False
    membership: bool = False
    invites: bool = False
    encryption: bool = False
    #: Events handed out but not acknowledged come again after a restart.
    redelivery: bool = False
    #: A retried send with the same idempotency key never creates a second message.
    idempotent_sends: bool = False
    #: Largest text payload in bytes the network accepts, if it says.
    max_message_bytes: int | None = None

    def supported(self) -> frozenset[str]:
        return frozenset(
            field.name
            for field in attrs.fields(Capabilities)
            if field.type in ("bool", bool) and getattr(self, field.name)
        )
