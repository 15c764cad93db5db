"""Optional capabilities: protocols an adapter implements to offer a feature.

An adapter states what it supports in one place, its class: it offers
reactions by having a ``react`` method (`SupportsReactions`), and content
features that are not methods (markdown, mentions, replies, threads, and
redelivery of unacknowledged events after a restart) by listing them in
``features`` (`HasFeatures`). `capabilities_of` derives the `Capabilities`
value from the class; the client raises `NotSupportedError` for the rest, so
no adapter writes a method only to refuse. docs/decisions/0006-contract.md
says why.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from functools import cache
from typing import TYPE_CHECKING, Literal, Protocol, TypeGuard, TypeVar, runtime_checkable

from ._adapter import Adapter
from ._address import Address
from ._exceptions import NotSupportedError
from ._types import Content, MessageRef, SentMessage

if TYPE_CHECKING:
    from ._adapter_state import AdapterState
    from ._attachment import Attachment
    from ._info import Capabilities, Conversation, EncryptionState, UserInfo

__all__ = [
    "supports",
    "Feature",
    "HasFeatures",
    "SupportsAttachments",
    "SupportsConversationCreation",
    "SupportsConversations",
    "SupportsDeletes",
    "SupportsDirectory",
    "SupportsDisappearing",
    "SupportsEdits",
    "SupportsEncryption",
    "SupportsInvites",
    "SupportsMembership",
    "SupportsReactions",
    "SupportsReceipts",
    "SupportsSharedState",
    "SupportsTyping",
    "capabilities_of",
    "unsupported",
]

#: Features that are no method of their own; an adapter lists those it has in ``features``.
Feature = Literal["markdown", "mentions", "replies", "threads", "redelivery"]


@runtime_checkable
class HasFeatures(Protocol):
    #: ``"redelivery"``: events handed out but not acknowledged come again after a
    #: restart (``ack`` commits a resume position that outlives the process).
    features: frozenset[Feature]


@runtime_checkable
class SupportsEdits(Protocol):
    async def edit(self, target: MessageRef, content: Content, *, key: str) -> SentMessage: ...


@runtime_checkable
class SupportsReactions(Protocol):
    async def react(
        self, target: MessageRef, emoji: str, *, remove: bool = False, key: str
    ) -> SentMessage: ...


@runtime_checkable
class SupportsDeletes(Protocol):
    async def delete(self, target: MessageRef, *, key: str) -> None: ...


@runtime_checkable
class SupportsTyping(Protocol):
    async def set_typing(self, conversation: Address, typing: bool) -> None: ...


@runtime_checkable
class SupportsReceipts(Protocol):
    async def mark_read(self, target: MessageRef) -> None: ...


@runtime_checkable
class SupportsAttachments(Protocol):
    """Sends may carry attachments, and received ones can be downloaded."""

    async def download(self, attachment: Attachment) -> bytes: ...


@runtime_checkable
class SupportsConversations(Protocol):
    async def conversations(self) -> Sequence[Conversation]: ...

    async def conversation(self, address: Address) -> Conversation: ...


@runtime_checkable
class SupportsConversationCreation(Protocol):
    async def create_conversation(
        self,
        *,
        name: str | None,
        members: Sequence[Address],
        encrypted: bool,
        direct: bool,
    ) -> Conversation: ...


@runtime_checkable
class SupportsMembership(Protocol):
    async def join(self, address: Address) -> Conversation: ...

    async def leave(self, address: Address) -> None: ...


@runtime_checkable
class SupportsInvites(Protocol):
    async def invite(self, conversation: Address, user: Address) -> None: ...


@runtime_checkable
class SupportsDirectory(Protocol):
    async def find_users(self, query: str) -> Sequence[UserInfo]: ...


@runtime_checkable
class SupportsEncryption(Protocol):
    """End-to-end encryption: its state per conversation, and trust in identities."""

    async def encryption_state(self, address: Address) -> EncryptionState: ...

    async def trust(self, user: Address, fingerprint: str | None = None, /) -> None:
        """Accept ``user``'s current identity (devices, safety number) after a change.

        With ``fingerprint`` (a Signal safety number, a Matrix device
        fingerprint) the identity is checked against it and marked verified.
        """
        ...


@runtime_checkable
class SupportsDisappearing(Protocol):
    async def set_disappearing(self, conversation: Address, ttl: timedelta | None) -> None: ...


@runtime_checkable
class SupportsSharedState(Protocol):
    """The adapter keeps its resume position in the client's store when given a place there.

    The client calls ``use_state`` before ``run`` when the application gave
    it a store (``Client(store=...)``); processes sharing that store then
    share the position, so a standby resumes where acknowledgements stopped.
    """

    def use_state(self, state: AdapterState) -> None: ...


#: Each `Capabilities` flag a method protocol decides, and the words errors use for it.
PROTOCOLS: dict[str, tuple[type, str]] = {
    "reactions": (SupportsReactions, "reactions"),
    "edits": (SupportsEdits, "edits"),
    "deletes": (SupportsDeletes, "deletes"),
    "typing": (SupportsTyping, "typing"),
    "receipts": (SupportsReceipts, "receipts"),
    "attachments": (SupportsAttachments, "attachments"),
    "conversations": (SupportsConversations, "listing conversations"),
    "create_conversation": (SupportsConversationCreation, "create conversation"),
    "membership": (SupportsMembership, "joining and leaving"),
    "invites": (SupportsInvites, "invites"),
    "directory_search": (SupportsDirectory, "directory search"),
    "encryption": (SupportsEncryption, "encryption"),
    "disappearing_messages": (SupportsDisappearing, "disappearing messages"),
}
FEATURES: tuple[Feature, ...] = ("markdown", "mentions", "replies", "threads", "redelivery")
_NAMES = {proto: words for proto, words in PROTOCOLS.values()}


@cache
def _offered(cls: type) -> dict[str, bool]:
    return {flag: issubclass(cls, proto) for flag, (proto, _) in PROTOCOLS.items()}


def capabilities_of(adapter: Adapter) -> Capabilities:
    """What ``adapter`` supports, read from its class and its two facts."""
    from ._info import Capabilities

    features = adapter.features if isinstance(adapter, HasFeatures) else frozenset()
    return Capabilities(
        **_offered(type(adapter)),
        **{name: name in features for name in FEATURES},
        idempotent_sends=adapter.idempotent_sends,
        max_message_bytes=adapter.max_message_bytes,
    )


P = TypeVar("P")


def supports(adapter: object, capability: type[P]) -> TypeGuard[P]:
    """``isinstance(adapter, capability)`` for a method protocol, decided once per class.

    A protocol ``isinstance`` compares every method by name, ~10 µs each time;
    capabilities belong to the class (see `capabilities_of`), so the answer
    for one class holds for all its instances.
    """
    key = (type(adapter), capability)
    known = _IMPLEMENTS.get(key)
    if known is None:
        known = _IMPLEMENTS[key] = issubclass(key[0], capability)
    return known


_IMPLEMENTS: dict[tuple[type, type], bool] = {}


def unsupported(adapter: Adapter, capability: type) -> NotSupportedError:
    """The error for calling ``capability`` on an ``adapter`` that does not implement it."""
    return NotSupportedError(adapter.network, _NAMES[capability])
