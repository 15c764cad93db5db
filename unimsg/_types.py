"""Frozen value types shared by the client, the adapters and applications."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Literal

import attrs

if TYPE_CHECKING:
    from ._attachment import Attachment
    from ._recipients import RecipientResult
    from ._styles import Mention

from ._address import Address
from ._exceptions import InvalidContentError

__all__ = [
    "Content",
    "MessageRef",
    "SentMessage",
]


def _mentions(values: Iterable[Mention]) -> tuple[Mention, ...]:
    return tuple(values)


def _attachments(values: Iterable[Attachment]) -> tuple[Attachment, ...]:
    return tuple(values)


def _results(values: Iterable[RecipientResult]) -> tuple[RecipientResult, ...]:
    return tuple(values)


def addresses(values: Iterable[Address | str]) -> tuple[Address, ...]:
    return tuple(Address.parse(v) for v in values)


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
