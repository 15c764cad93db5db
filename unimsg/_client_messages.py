"""Sending, answering and changing messages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import attrs

from ._adapter import Adapter, OutgoingMessage
from ._address import Address
from ._capabilities import (
    SupportsAttachments,
    SupportsDeletes,
    SupportsEdits,
    SupportsEncryption,
    SupportsReactions,
    SupportsReceipts,
    SupportsTyping,
    supports,
    unsupported,
)
from ._client_core import ClientCore, Target, _ref
from ._event import Event
from ._exceptions import (
    EncryptionRequiredError,
    InvalidArgumentError,
    NotSupportedError,
    RateLimitedError,
)
from ._keys import new_key
from ._outbox import QueuedMessage
from ._router import adapter_name
from ._types import (
    Content,
    MessageRef,
    SentMessage,
)

if TYPE_CHECKING:
    from ._attachment import Attachment
    from ._styles import Mention

__all__ = ["MessagingMixin"]

Format = Literal["plain", "markdown"]


class MessagingMixin(ClientCore):
    async def send(
        self,
        to: Target,
        content: str | Content = "",
        *,
        format: Format | None = None,
        mentions: Sequence[Mention] = (),
        attachments: Sequence[Attachment] = (),
        reply_to: MessageRef | Event | None = None,
        require_encryption: bool | None = None,
        idempotency_key: str | None = None,
        via: str | None = None,
    ) -> SentMessage:
        """Send to an address, an address string or a contact, through the routed adapter.

        ``content`` is text (shaped by the keywords) or a `Content`; a keyword
        may only fill what the `Content` leaves empty, never contradict it.
        ``via`` (a network or ``network:account``) skips the routes and picks
        that adapter. ``idempotency_key`` makes retries of this same send
        recognisable where the network can tell (Matrix transaction ids).
        """
        self._check_open()
        body = _content(content, format, mentions, attachments, reply_to)
        adapter, identity = self._unrouted(to, via) or await self._route(to, via)
        message = self._outgoing(adapter, identity, body, require_encryption, idempotency_key)
        try:
            return await adapter.send(message)
        except RateLimitedError as exc:
            return await self._retrying(lambda: adapter.send(message), exc)

    async def enqueue(
        self,
        to: Target,
        content: str | Content = "",
        *,
        format: Format | None = None,
        mentions: Sequence[Mention] = (),
        attachments: Sequence[Attachment] = (),
        reply_to: MessageRef | Event | None = None,
        require_encryption: bool | None = None,
        idempotency_key: str | None = None,
        via: str | None = None,
    ) -> QueuedMessage:
        """Queue a send in the durable outbox and return at once.

        The send is written to the client's store before it is tried, then
        delivered in order per conversation, with retries and backoff, across
        restarts when the store is a file. ``await queued.delivered()`` waits
        for the receipt. Routing happens now; encryption is checked on delivery.
        """
        self._check_open()
        body = _content(content, format, mentions, attachments, reply_to)
        adapter, identity = await self._route(to, via)
        message = self._outgoing(adapter, identity, body, require_encryption, idempotency_key)
        return await self.outbox.enqueue(adapter_name(adapter), message)

    def _outgoing(
        self,
        adapter: Adapter,
        to: Address,
        content: Content,
        require_encryption: bool | None,
        key: str | None,
    ) -> OutgoingMessage:
        """The message for ``adapter``; what it cannot carry fails here, before any send."""
        encrypted = self.require_encryption if require_encryption is None else require_encryption
        if content.attachments and not supports(adapter, SupportsAttachments):
            raise unsupported(adapter, SupportsAttachments)
        if content.reply_to is not None and not self._capabilities[adapter_name(adapter)].replies:
            raise NotSupportedError(adapter.network, "replies")
        if content.format == "markdown" and not self._capabilities[adapter_name(adapter)].markdown:
            # Markdown source is the readable plain form: adapters see only what they render.
            content = attrs.evolve(content, format="plain")
        if encrypted and not supports(adapter, SupportsEncryption):
            raise EncryptionRequiredError(f"{adapter.network} has no end-to-end encryption")
        return OutgoingMessage(
            to=to,
            content=content,
            idempotency_key=key or new_key(),
            require_encryption=encrypted,
        )

    async def reply(
        self,
        event: Event | MessageRef,
        content: str | Content,
        *,
        format: Format | None = None,
        quote: bool = True,
        require_encryption: bool | None = None,
    ) -> SentMessage:
        """Answer in the conversation, network and account the event came from.

        With ``quote`` the answer is linked to ``event`` as a reply, whether
        ``content`` is text or a `Content`.
        """
        self._check_open()
        ref = event.ref if isinstance(event, Event) else event
        adapter = self._adapter_for_event(event)
        if isinstance(content, Content) and quote and content.reply_to not in (None, ref):
            raise InvalidArgumentError("the content replies to another message than the event")
        body = _content(content, format, (), (), ref if quote else None)
        if not quote and body.reply_to is not None:
            raise InvalidArgumentError("quote=False, but the content replies to a message")
        message = self._outgoing(adapter, ref.conversation, body, require_encryption, None)
        return await self._retrying(lambda: adapter.send(message))

    async def react(
        self, target: Event | MessageRef, emoji: str, *, remove: bool = False
    ) -> SentMessage:
        self._check_open()
        adapter = self._adapter_for_event(target)
        if not supports(adapter, SupportsReactions):
            raise unsupported(adapter, SupportsReactions)
        key = new_key()
        return await self._retrying(
            lambda: adapter.react(_ref(target), emoji, remove=remove, key=key)
        )

    async def edit(
        self, target: Event | MessageRef | SentMessage, content: str | Content
    ) -> SentMessage:
        self._check_open()
        ref = target.ref if isinstance(target, SentMessage) else _ref(target)
        adapter = self._adapter_for_event(ref)
        if not supports(adapter, SupportsEdits):
            raise unsupported(adapter, SupportsEdits)
        body = Content(text=content) if isinstance(content, str) else content
        key = new_key()
        return await self._retrying(lambda: adapter.edit(ref, body, key=key))

    async def delete(self, target: Event | MessageRef | SentMessage) -> None:
        self._check_open()
        ref = target.ref if isinstance(target, SentMessage) else _ref(target)
        adapter = self._adapter_for_event(ref)
        if not supports(adapter, SupportsDeletes):
            raise unsupported(adapter, SupportsDeletes)
        key = new_key()
        await self._retrying(lambda: adapter.delete(ref, key=key))

    async def set_typing(self, conversation: Address | str, typing: bool = True) -> None:
        self._check_open()
        address = Address.parse(conversation)
        adapter = self._adapter_for_event(address)
        if not supports(adapter, SupportsTyping):
            raise unsupported(adapter, SupportsTyping)
        await adapter.set_typing(address, typing)

    async def mark_read(self, target: Event | MessageRef) -> None:
        self._check_open()
        adapter = self._adapter_for_event(target)
        if not supports(adapter, SupportsReceipts):
            raise unsupported(adapter, SupportsReceipts)
        await adapter.mark_read(_ref(target))

    async def download(self, attachment: Attachment, network: str) -> bytes:
        """The bytes of a received attachment."""
        self._check_open()
        if attachment.data is not None:
            return attachment.data
        adapter = self.adapter(network)
        if not supports(adapter, SupportsAttachments):
            raise unsupported(adapter, SupportsAttachments)
        return await adapter.download(attachment)


def _content(
    content: str | Content,
    format: Format | None,
    mentions: Sequence[Mention],
    attachments: Sequence[Attachment],
    reply_to: MessageRef | Event | None,
) -> Content:
    """The message to send: the text and keywords, or a `Content` the keywords may only complete."""
    if type(content) is str and format is None and not (mentions or attachments or reply_to):
        return Content(text=content)  # the common case, with the defaults
    ref = reply_to.ref if isinstance(reply_to, Event) else reply_to
    if not isinstance(content, Content):
        return Content(
            text=content,
            format="plain" if format is None else format,
            mentions=mentions,
            attachments=attachments,
            reply_to=ref,
        )
    if format is not None and format != content.format:
        raise InvalidArgumentError(
            f"format={format!r} contradicts the content's format {content.format!r}"
        )
    fill: dict[str, Any] = {}
    for name, given in (
        ("mentions", tuple(mentions)),
        ("attachments", tuple(attachments)),
        ("reply_to", ref),
    ):
        carried = getattr(content, name)
        if not given or given == carried:
            continue
        if carried:
            raise InvalidArgumentError(
                f"{name}= contradicts the content's own {name}: give it in one place"
            )
        fill[name] = given
    return attrs.evolve(content, **fill) if fill else content
