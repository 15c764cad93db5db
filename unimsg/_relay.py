"""The relay: two conversations mirrored both ways, on any two adapters of one client.

Each message is copied with its sender's name ("Alice: hi"); replies,
reactions, edits and deletes follow through an id map of (original, copy)
pairs kept in SQLite, so they still find their message after a restart.

Loops cannot form: events by the relay's own accounts are dropped (which
covers its copies, ``from_self`` echoes and its own reactions and edits),
and a message that is already in the id map, as an original or as a copy,
is never copied again. Delivery is at least once: an event is acknowledged
only after it was mirrored and recorded, so a crash in between redelivers
it, and the id map turns the redelivery into a no-op.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from contextlib import ExitStack
from types import TracebackType
from typing import Self

import anyio
import anyio.abc

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
from ._idmap import IdMap
from ._lifecycle import Background
from ._types import Attachment, Content, SentMessage

__all__ = ["Relay", "RelayGroup"]

log = logging.getLogger("unimsg.relay")

# Failures that would fail again on redelivery: logged, and the event counts as handled.
_PERMANENT = (NotFoundError, PermissionDeniedError, NotSupportedError, DeliveryError, UsageError)


class Relay:
    """Mirror conversations ``a`` and ``b`` (a Matrix room and a Signal group, say).

    ``store`` is the id map's SQLite file (created with mode 0600), or
    ``":memory:"`` to forget everything at exit. Mirroring an end-to-end
    encrypted conversation into a plaintext one raises
    `EncryptionRequiredError` at start unless ``allow_downgrade=True``.
    Senders are named from ``contacts``, else by their address's id.

    ``async with relay:`` runs it in the background; ``await relay.run()``
    runs it in the foreground; several relays on one client run together in
    a `RelayGroup`.
    """

    def __init__(
        self,
        client: Client,
        a: Address | str,
        b: Address | str,
        *,
        store: str | os.PathLike[str] = ":memory:",
        allow_downgrade: bool = False,
        name: str | None = None,
        contacts: ContactBook | None = None,
    ) -> None:
        self.client = client
        self.a, self.b = Address.parse(a), Address.parse(b)
        if self.a == self.b:
            raise InvalidArgumentError("a relay needs two different conversations")
        self.store = store
        self.allow_downgrade = allow_downgrade
        self.name = name or f"{self.a} <-> {self.b}"
        self.contacts = contacts if contacts is not None else client.contacts
        self._map: IdMap | None = None
        self._protect: dict[Address, bool] = {}
        self._group: RelayGroup | None = None

    def __repr__(self) -> str:
        return f"<Relay {self.name}>"

    @property
    def conversations(self) -> tuple[Address, Address]:
        return self.a, self.b

    @property
    def idmap(self) -> IdMap:
        if self._map is None:
            raise UsageError(f"{self!r} is not running")
        return self._map

    async def open(self) -> None:
        """Check encryption and open the id map (`run` and `RelayGroup` do this)."""
        state = {c: await self.client.encryption_state(c) for c in self.conversations}
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
        self._map = IdMap(self.store, self.name)

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        await RelayGroup(self.client, [self]).run(task_status=task_status)

    async def __aenter__(self) -> Self:
        self._group = RelayGroup(self.client, [self])
        await self._group.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        group, self._group = self._group, None
        return None if group is None else await group.__aexit__(exc_type, exc, tb)

    # -- mirroring ------------------------------------------------------------------

    async def handle(self, event: Event) -> None:
        """Mirror ``event`` if it belongs to one of the two conversations.

        Public so that an application reading ``client.events()`` itself can
        feed a relay; acknowledge the event after this returns.
        """
        if event.conversation not in self.conversations or _own(event):
            return
        here = event.conversation
        there = self.b if here == self.a else self.a
        try:
            if isinstance(event, MessageReceived):
                await self._message(event, here, there)
            elif isinstance(
                event, MessageEdited | MessageDeleted | ReactionReceived
            ) and not self.idmap.handled(here, event.id):
                await self._follow(event, here)
                self.idmap.mark_handled(here, event.id)
        except _PERMANENT as exc:
            log.warning(
                "relay %s could not mirror %s %s: %s",
                self.name,
                type(event).__name__,
                event.id,
                type(exc).__name__,
            )

    async def _message(self, event: MessageReceived, here: Address, there: Address) -> None:
        if self.idmap.known(here, event.id):
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
            reply_to = self.idmap.counterpart(here, event.reply_to.id)
        content = Content(text=text, attachments=attachments, reply_to=reply_to)
        sent = await self._post(there, content, event)
        self.idmap.record(event.ref, sent.ref)

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
            other = self.idmap.counterpart(here, event.target.id)
            if other is not None:
                await self.client.react(other, event.emoji, remove=event.removed)
            return
        # The relay can only change its own messages: edits and deletes follow
        # from an original to its copy, never back.
        copy = self.idmap.copy_of(here, event.target.id)
        if copy is None:
            return
        if isinstance(event, MessageEdited):
            await self.client.edit(copy, f"{self.contacts.name_of(event.sender)}: {event.text}")
        else:
            await self.client.delete(copy)


class RelayGroup(Background):
    """Several relays on one client, fed by one reader of ``client.events()``.

    Events are handled one at a time in arrival order, so an edit never
    overtakes the message it edits; each is acknowledged after every relay
    it concerns has mirrored and recorded it. Events of other conversations
    are acknowledged and dropped: the group owns the client's event stream.
    """

    def __init__(self, client: Client, relays: Iterable[Relay]) -> None:
        self.client = client
        self.relays = tuple(relays)
        if any(r.client is not client for r in self.relays):
            raise InvalidArgumentError("every relay of a group must use the group's client")
        names = [r.name for r in self.relays]
        if len(set(names)) != len(names):
            raise InvalidArgumentError(f"relay names must differ, they share the id map: {names}")
        self._by_conversation: dict[Address, list[Relay]] = {}
        for relay in self.relays:
            for conversation in relay.conversations:
                self._by_conversation.setdefault(conversation, []).append(relay)
        self._waiting: anyio.CancelScope | None = None
        self._stopping = False

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Mirror until the client closes or `stop` is called."""
        with await self._open():
            await self._mirror(task_status=task_status)

    async def _open(self) -> ExitStack:
        opened = ExitStack()
        try:
            for relay in self.relays:
                await relay.open()
                opened.callback(relay.close)
        except BaseException:
            opened.close()
            raise
        return opened

    async def _mirror(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        self._stopping = False
        stream = self.client.events()
        task_status.started()
        while not self._stopping:
            event: Event | None = None
            # Only the wait is cancelled by stop(): an event being mirrored
            # finishes, so stopping never leaves a copy unrecorded.
            with anyio.CancelScope() as self._waiting:
                event = await anext(stream, None)
            self._waiting = None
            if event is None:
                break
            for relay in self._by_conversation.get(event.conversation, ()):
                await relay.handle(event)
            await self.client.ack(event)

    def stop(self) -> None:
        self._stopping = True
        if self._waiting is not None:
            self._waiting.cancel()

    async def __aenter__(self) -> Self:
        # Opened here, not in the background task, so that a refused
        # downgrade raises from ``async with`` itself, unwrapped.
        opened = await self._open()
        await self._start_background(self._mirror, self.stop, holding=opened)
        return self


def _own(event: Event) -> bool:
    if isinstance(event, MessageReceived) and event.from_self:
        return True
    return event.sender == event.account
