"""Events an adapter delivers through ``Client.events()``.

Every event carries where it happened (``conversation``), who caused it
(``sender``), the network's id for it (``id``), when (``timestamp``), which of
our accounts saw it (``account``) and the undecoded payload (``raw``, left out
of ``repr`` and equality).
"""

from __future__ import annotations

import enum
from datetime import timedelta

import attrs

from ._address import Address
from ._attachment import Attachment
from ._event import ConnectionState, ConnectionStateChanged, Event
from ._info import EncryptionState
from ._styles import Mention, StyleRange
from ._types import MessageRef

__all__ = [
    "ConnectionState",
    "ConnectionStateChanged",
    "ConversationUpdated",
    "EncryptionStateChanged",
    "Event",
    "MembershipChanged",
    "Membership",
    "MessageDeleted",
    "MessageEdited",
    "MessageReceived",
    "ReactionReceived",
    "ReceiptKind",
    "ReceiptReceived",
    "TypingChanged",
    "UndecryptableMessage",
    "UnknownEvent",
]


@attrs.frozen(kw_only=True)
class MessageReceived(Event):
    text: str = ""
    styles: tuple[StyleRange, ...] = ()
    #: The HTML body when the network sent one (Matrix ``formatted_body``).
    html: str | None = None
    mentions: tuple[Mention, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    reply_to: MessageRef | None = None
    #: Sent by this account from another device (Signal sync, Matrix own echo).
    from_self: bool = False
    encrypted: bool = False
    expires_in: timedelta | None = None


@attrs.frozen(kw_only=True)
class MessageEdited(Event):
    target: MessageRef
    text: str = ""
    styles: tuple[StyleRange, ...] = ()
    html: str | None = None
    mentions: tuple[Mention, ...] = ()
    #: Done by this account from another device.
    from_self: bool = False


@attrs.frozen(kw_only=True)
class MessageDeleted(Event):
    target: MessageRef
    #: Done by this account from another device.
    from_self: bool = False


@attrs.frozen(kw_only=True)
class ReactionReceived(Event):
    target: MessageRef
    emoji: str
    #: True when the sender took the reaction back.
    removed: bool = False
    #: Done by this account from another device.
    from_self: bool = False


class ReceiptKind(enum.Enum):
    DELIVERED = "delivered"
    READ = "read"
    VIEWED = "viewed"


@attrs.frozen(kw_only=True)
class ReceiptReceived(Event):
    kind: ReceiptKind
    targets: tuple[MessageRef, ...] = ()


@attrs.frozen(kw_only=True)
class TypingChanged(Event):
    typing: bool


class Membership(enum.Enum):
    INVITED = "invited"
    JOINED = "joined"
    LEFT = "left"
    KICKED = "kicked"
    BANNED = "banned"


@attrs.frozen(kw_only=True)
class MembershipChanged(Event):
    member: Address
    membership: Membership


@attrs.frozen(kw_only=True)
class ConversationUpdated(Event):
    """Name, topic or disappearing-message timer changed (``None``: unchanged)."""

    name: str | None = None
    topic: str | None = None
    disappearing: timedelta | None = None
    disappearing_changed: bool = False


@attrs.frozen(kw_only=True)
class EncryptionStateChanged(Event):
    """Encryption was turned on, or a member's identity or devices changed."""

    state: EncryptionState
    #: The member whose identity changed, when that is the cause.
    member: Address | None = None


@attrs.frozen(kw_only=True)
class UndecryptableMessage(Event):
    """A message arrived that this client cannot decrypt; nothing is dropped."""

    reason: str
    session_id: str | None = None


@attrs.frozen(kw_only=True)
class UnknownEvent(Event):
    """Something the adapter does not map; ``type`` names it on its network."""

    type: str
