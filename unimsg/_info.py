"""What a client can learn besides messages: conversations, people, encryption, capabilities
and its adapters' health.

Apart from the message types (`unimsg._types`) so that a client that only
sends and receives does not build these classes at import.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import attrs

from ._address import Address
from ._event import ConnectionState
from ._types import addresses

__all__ = ["AdapterHealth", "Capabilities", "Conversation", "EncryptionState", "UserInfo"]


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


@attrs.frozen(kw_only=True)
class AdapterHealth:
    """What ``Client.health()`` reports for one adapter."""

    state: ConnectionState
    #: When the adapter last delivered an event (``None``: not yet).
    last_event: datetime | None
    events: int
    #: Events received but not yet read by the application (client-wide).
    backlog: int
    #: ``"active"`` or ``"standby"`` with a reader lease (``Client(reader_lease=...)``),
    #: else ``"single"``: the only reader of its store.
    role: str = "single"
    #: Seconds this process has held the reader lease (``None``: no lease held).
    lease_age: float | None = None
    #: Queued sends in the store (every worker's) when the outbox last counted.
    outbox_depth: int = 0
