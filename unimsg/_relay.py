"""The relay: two conversations mirrored both ways, a handler hosted by a `Bot`.

``bot.relay(a, b)`` mirrors conversations ``a`` and ``b`` (on any two
adapters of the bot's client). Each message is copied with its sender's name
("Alice: hi"); replies, reactions, edits and deletes follow through an id map
of (original, copy) pairs kept in the client's store, so they still find
their message after a restart when the store is a file.

Loops cannot form: events by the relay's own accounts are dropped (which
covers its copies, ``from_self`` echoes and its own reactions and edits),
and a message that is already in the id map, as an original or as a copy,
is never copied again. Delivery is at least once: an event is acknowledged
only after it was mirrored and recorded, so a crash in between redelivers
it, and the id map turns the redelivery into a no-op.
"""

from __future__ import annotations

import logging

from ._address import Address
from ._client import Client
from ._contacts import ContactBook
from ._events import Event, MessageDeleted, MessageEdited, MessageReceived, ReactionReceived
from ._exceptions import (
    DeliveryError,
    EncryptionRequiredError,
    InvalidArgumentError,
    NotFoundError,
    NotSupportedError,
    PermissionDeniedError,
    UsageError,
)
from ._health import event_key
from ._types import Attachment, Content, MessageRef, SentMessage

__all__ = ["Relay"]

log = logging.getLogger("unimsg.relay")

# Failures that would fail again on redelivery: logged, and the event counts as handled.
_PERMANENT = (NotFoundError, PermissionDeniedError, NotSupportedError, DeliveryError, UsageError)


class Relay:
    """Conversations ``a`` and ``b`` (a Matrix room and a Signal group, say), mirrored.

    Made by `Bot.relay`, which feeds it the events of its two conversations
    one at a time, in arrival order, so that an edit never overtakes the
    message it edits. Mirroring an end-to-end encrypted conversation into a
    plaintext one raises `EncryptionRequiredError` when the bot starts,
    unless ``allow_downgrade=True``. Senders are named from ``contacts``,
    else by their address's id.
    """

    def __init__(
        self,
        a: Address | str,
        b: Address | str,
        *,
        name: str | None = None,
        allow_downgrade: bool = False,
        contacts: ContactBook | None = None,
    ) -> None:
        self.a, self.b = Address.parse(a), Address.parse(b)
        if self.a == self.b:
            raise InvalidArgumentError("a relay needs two different conversations")
        self.allow_downgrade = allow_downgrade
        self.name = name or f"{self.a} <-> {self.b}"
        self.contacts = contacts if contacts is not None else ContactBook()
        self._client: Client | None = None
        self._protect: dict[Address, bool] = {}

    def __repr__(self) -> str:
        return f"<Relay {self.name}>"

    @property
    def conversations(self) -> tuple[Address, Address]:
        return self.a, self.b

    @property
    def client(self) -> Client:
        if self._client is None:
            raise UsageError(f"{self!r} is not running: run the bot that hosts it")
        return self._client

    async def start(self, client: Client) -> None:
        """Check encryption before the first event (the hosting bot calls this)."""
        state = {c: await client.encryption_state(c) for c in self.conversations}
        for here, there in ((self.a, self.b), (self.b, self.a)):
            downgrade = state[here].encrypted and not state[there].encrypted
            if downgrade and not self.allow_downgrade:
                raise EncryptionRequiredError(
                    f"relay {self.name}: {here} is end-to-end encrypted and {there} is not; "
                    "mirroring would copy its messages in plaintext. Encrypt the other side "
                    "or pass allow_downgrade=True"
                )
            # Sends into `there` must stay encrypted if it was when we checked.
            self._protect[there] = state[here].encrypted and not self.allow_downgrade
        self._client = client

    def stop(self) -> None:
        self._client = None

    async def copy_of(self, conversation: Address, message_id: str) -> MessageRef | None:
        """The relay's copy of an original message."""
        return await self.client.store.relay_copy(self.name, str(conversation), message_id)

    async def origin_of(self, conversation: Address, message_id: str) -> MessageRef | None:
        """The original of one of the relay's copies."""
        return await self.client.store.relay_origin(self.name, str(conversation), message_id)

    async def counterpart(self, conversation: Address, message_id: str) -> MessageRef | None:
        """The other side's message: the copy of an original, or the original of a copy."""
        return await self.copy_of(conversation, message_id) or await self.origin_of(
            conversation, message_id
        )

    # -- mirroring ------------------------------------------------------------------

    async def handle(self, event: Event) -> None:
        """Mirror ``event``, one of the two conversations' (the hosting bot calls this)."""
        if event.conversation not in self.conversations:
            return
        here = event.conversation
        there = self.b if here == self.a else self.a
        try:
            if isinstance(event, MessageReceived):
                await self._message(event, here, there)
            elif isinstance(event, MessageEdited | MessageDeleted | ReactionReceived):
                # Marked after following, so that a crash in between redelivers it;
                # the mark turns a redelivery after the ack's loss into a no-op.
                mark = f"relay\x1f{self.name}\x1f{here}\x1f{event.id}"
                if not await self.client.store.seen([mark]):
                    await self._follow(event, here)
                    await self.client.store.remember([mark])
        except _PERMANENT as exc:
            log.warning(
                "relay %s could not mirror %s %s: %s",
                self.name,
                type(event).__name__,
                event.id,
                type(exc).__name__,
            )

    async def _message(self, event: MessageReceived, here: Address, there: Address) -> None:
        if await self.counterpart(here, event.id) is not None:
            return
        caps = self.client.capabilities(there.network)
        who = self.contacts.name_of(event.sender)
        files = [a.name for a in event.attachments]
        attachments: list[Attachment] = []
        if caps.attachments:
            for item in event.attachments:
                data = await self.client.download(item, event.network)
                attachments.append(
                    Attachment(data=data, filename=item.filename, mime_type=item.mime_type)
                )
        text = f"{who}: {event.text}" if event.text else f"{who} sent {', '.join(files)}"
        if files and not caps.attachments:
            text += f" [not carried: {', '.join(files)}]"
        reply_to = None
        if event.reply_to is not None and caps.replies:
            reply_to = await self.counterpart(here, event.reply_to.id)
        content = Content(text=text, attachments=attachments, reply_to=reply_to)
        sent = await self._post(there, content, event)
        await self.client.store.relay_record(self.name, event.ref, sent.ref)

    async def _post(self, there: Address, content: Content, event: Event) -> SentMessage:
        # ``via`` bypasses the routes: a relay must stay on its two conversations
        # whatever "people to Signal" rules the application configured. The key
        # is derived from the source event, so a copy re-sent after a crash is
        # the same send to a network that de-duplicates (Matrix).
        # Imported here: only relays need it, and `import unimsg` should stay quick.
        import hashlib

        key = hashlib.sha256(f"{self.name}\x1f{event_key(event)}".encode()).hexdigest()[:32]
        protect = self._protect.get(there, False)
        return await self.client.send(
            there,
            content,
            via=there.network,
            idempotency_key=key,
            require_encryption=protect or None,
        )

    async def _follow(
        self, event: MessageEdited | MessageDeleted | ReactionReceived, here: Address
    ) -> None:
        if isinstance(event, ReactionReceived):
            # Reactions go either way: on an original to its copy, on a copy to its original.
            other = await self.counterpart(here, event.target.id)
            if other is not None:
                await self.client.react(other, event.emoji, remove=event.removed)
            return
        # The relay can only change its own messages: edits and deletes follow
        # from an original to its copy, never back.
        copy = await self.copy_of(here, event.target.id)
        if copy is None:
            return
        if isinstance(event, MessageEdited):
            await self.client.edit(copy, f"{self.contacts.name_of(event.sender)}: {event.text}")
        else:
            await self.client.delete(copy)
