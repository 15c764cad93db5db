"""The client applications hold: adapters, routing, lifecycle and the event stream."""

from __future__ import annotations

import logging
import math
import os
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from datetime import timedelta
from types import TracebackType
from typing import Literal, Self, TypeVar

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._adapter import Adapter, OutgoingMessage
from ._address import Address
from ._events import ConnectionState, Event
from ._exceptions import ClosedError, EncryptionRequiredError, NotSupportedError, RateLimitedError
from ._health import AdapterHealth, _Health, event_key
from ._router import Contact, Route, adapter_name, plan_routes
from ._store import MemoryStore, SqliteStore, Store
from ._types import (
    Attachment,
    Capabilities,
    Content,
    Conversation,
    EncryptionState,
    Mention,
    MessageRef,
    SentMessage,
    UserInfo,
)

__all__ = ["Client", "EventStream"]

log = logging.getLogger("unimsg")
T = TypeVar("T")
Target = Address | Contact | str


def _target(value: Target) -> Address | Contact:
    return value if isinstance(value, Contact) else Address.parse(value)


class Client:
    """One application's view of all its accounts.

    ``async with Client(signal, matrix, routes=[...]) as client:`` starts
    every adapter (returning once each can send) and stops them on exit.

    ``rate_limit_budget`` bounds how long (seconds) one call waits out rate
    limits before `RateLimitedError` reaches the caller; a retried send keeps
    its idempotency key, so it is never duplicated where the network can tell.
    """

    def __init__(
        self,
        *adapters: Adapter,
        routes: Sequence[Route] = (),
        require_encryption: bool = False,
        rate_limit_budget: float = 30.0,
        event_buffer: int = 1024,
        store: Store | str | os.PathLike[str] | None = None,
    ) -> None:
        if not adapters:
            raise ValueError("a Client needs at least one adapter")
        names = [adapter_name(a) for a in adapters]
        if len(set(names)) != len(names):
            raise ValueError(f"two adapters for the same account: {names}")
        self._adapters = dict(zip(names, adapters, strict=True))
        self.routes = tuple(routes)
        self.require_encryption = require_encryption
        self.rate_limit_budget = rate_limit_budget
        self._event_buffer = event_buffer
        self._stack: AsyncExitStack | None = None
        self._events_out: MemoryObjectSendStream[Event] | None = None
        self._events_in: MemoryObjectReceiveStream[Event] | None = None
        self._closed = False
        # Redeliveries (reconnects, replays, restarts) must not reach the
        # application twice: ``_handed`` covers this run, the store past runs.
        self._handed: OrderedDict[str, None] = OrderedDict()
        self._handed_limit = 10_000
        if store is None:
            store = MemoryStore()
        elif not isinstance(store, Store):
            store = SqliteStore(store)
        self.store: Store = store
        self._health = {name: _Health() for name in self._adapters}

    # -- lifecycle -----------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._stack is not None or self._closed:
            raise ClosedError("a Client can be opened once; create a new one")
        send, receive = anyio.create_memory_object_stream[Event](self._event_buffer)
        self._events_out, self._events_in = send, receive
        async with AsyncExitStack() as stack:
            stack.push_async_callback(receive.aclose)
            stack.push_async_callback(send.aclose)
            tg = await stack.enter_async_context(anyio.create_task_group())
            stack.callback(tg.cancel_scope.cancel)
            stack.callback(self.store.close)
            for name, adapter in self._adapters.items():
                await tg.start(self._run_adapter, adapter)
                self._health[name].state = ConnectionState.CONNECTED
            self._stack = stack.pop_all()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        return await self._close(exc_type, exc, tb)

    async def aclose(self) -> None:
        await self._close(None, None, None)

    async def _close(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        self._closed = True
        stack, self._stack = self._stack, None
        if stack is None:
            return None
        try:
            return await stack.__aexit__(exc_type, exc, tb)
        except BaseExceptionGroup as group:
            # The task group wraps whatever it sees; callers should get the
            # error itself so that ``except NotFoundError`` works around ``async with``.
            leaves = _leaves(group)
            if exc is not None and all(leaf is exc for leaf in leaves):
                return False
            if len(leaves) == 1:
                raise leaves[0] from None
            raise

    async def _run_adapter(
        self, adapter: Adapter, *, task_status: anyio.abc.TaskStatus[None]
    ) -> None:
        assert self._events_out is not None
        send = self._events_out.send
        health = self._health[adapter_name(adapter)]

        async def sink(event: Event) -> None:
            health.saw(event)
            await send(event)

        try:
            await adapter.run(sink, task_status=task_status)
        finally:
            health.state = ConnectionState.DISCONNECTED

    def _check_open(self) -> None:
        if self._stack is None:
            state = "closed" if self._closed else "not open yet: use 'async with Client(...)'"
            raise ClosedError(f"the client is {state}")

    # -- adapters and routing ---------------------------------------------------

    @property
    def adapters(self) -> dict[str, Adapter]:
        """Adapters by name (``network:account``)."""
        return dict(self._adapters)

    def adapter(self, name_or_network: str) -> Adapter:
        """The adapter with that name, or the first one of that network."""
        if name_or_network in self._adapters:
            return self._adapters[name_or_network]
        for adapter in self._adapters.values():
            if name_or_network in (adapter.network, str(adapter.account)):
                return adapter
        raise NotSupportedError(name_or_network, "messaging", "this client has no such adapter")

    def _adapter_for_event(self, source: Event | MessageRef | Address) -> Adapter:
        if isinstance(source, Event):
            name = f"{source.network}:{source.account.id}"
            if name in self._adapters:
                return self._adapters[name]
            return self.adapter(source.network)
        address = source.conversation if isinstance(source, MessageRef) else source
        return self.adapter(address.network)

    async def _route(self, target: Target) -> tuple[Adapter, Address]:
        candidates = plan_routes(_target(target), self.routes, self._adapters.values())
        # Only encrypted routes ask first; the adapter itself enforces a
        # client-wide requirement, which keeps the common path to one call.
        for route, adapter, identity in candidates:
            if not route.encrypted:
                return adapter, identity
            state = await adapter.encryption_state(identity)
            if state.encrypted:
                return adapter, identity
        raise EncryptionRequiredError(
            f"no encrypted conversation reaches {target}: every fitting route is plaintext"
        )

    async def _retrying(self, call: Callable[[], Awaitable[T]]) -> T:
        waited = 0.0
        while True:
            try:
                return await call()
            except RateLimitedError as exc:
                delay = exc.retry_after if exc.retry_after is not None else math.inf
                if waited + delay > self.rate_limit_budget:
                    raise
                log.debug("rate limited; retrying in %.2fs", delay)
                waited += delay
                await anyio.sleep(delay)

    @staticmethod
    def _require(adapter: Adapter, feature: str) -> None:
        if not getattr(adapter.capabilities, feature):
            raise NotSupportedError(adapter.network, feature.replace("_", " "))

    # -- messages ------------------------------------------------------------------

    async def send(
        self,
        to: Target,
        content: str | Content = "",
        *,
        format: Literal["plain", "markdown"] = "plain",
        mentions: Sequence[Mention] = (),
        attachments: Sequence[Attachment] = (),
        reply_to: MessageRef | Event | None = None,
        require_encryption: bool | None = None,
        idempotency_key: str | None = None,
    ) -> SentMessage:
        """Send to an address, an address string or a contact, through the routed adapter."""
        self._check_open()
        if isinstance(content, str):
            ref = reply_to.ref if isinstance(reply_to, Event) else reply_to
            content = Content(
                text=content,
                format=format,
                mentions=mentions,
                attachments=attachments,
                reply_to=ref,
            )
        encrypted = self.require_encryption if require_encryption is None else require_encryption
        adapter, identity = await self._route(to)
        message = OutgoingMessage(
            to=identity,
            content=content,
            idempotency_key=idempotency_key or uuid.uuid4().hex,
            require_encryption=encrypted,
        )
        return await self._retrying(lambda: adapter.send(message))

    async def reply(
        self,
        event: Event | MessageRef,
        content: str | Content,
        *,
        format: Literal["plain", "markdown"] = "plain",
        quote: bool = True,
        require_encryption: bool | None = None,
    ) -> SentMessage:
        """Answer in the conversation, network and account the event came from."""
        self._check_open()
        ref = event.ref if isinstance(event, Event) else event
        adapter = self._adapter_for_event(event)
        if isinstance(content, str):
            content = Content(text=content, format=format, reply_to=ref if quote else None)
        encrypted = self.require_encryption if require_encryption is None else require_encryption
        message = OutgoingMessage(
            to=ref.conversation,
            content=content,
            idempotency_key=uuid.uuid4().hex,
            require_encryption=encrypted,
        )
        return await self._retrying(lambda: adapter.send(message))

    async def react(
        self, target: Event | MessageRef, emoji: str, *, remove: bool = False
    ) -> SentMessage:
        self._check_open()
        adapter = self._adapter_for_event(target)
        self._require(adapter, "reactions")
        key = uuid.uuid4().hex
        return await self._retrying(
            lambda: adapter.react(_ref(target), emoji, remove=remove, key=key)
        )

    async def edit(
        self, target: Event | MessageRef | SentMessage, content: str | Content
    ) -> SentMessage:
        self._check_open()
        ref = target.ref if isinstance(target, SentMessage) else _ref(target)
        adapter = self._adapter_for_event(ref)
        self._require(adapter, "edits")
        body = Content(text=content) if isinstance(content, str) else content
        key = uuid.uuid4().hex
        return await self._retrying(lambda: adapter.edit(ref, body, key=key))

    async def delete(self, target: Event | MessageRef | SentMessage) -> None:
        self._check_open()
        ref = target.ref if isinstance(target, SentMessage) else _ref(target)
        adapter = self._adapter_for_event(ref)
        self._require(adapter, "deletes")
        key = uuid.uuid4().hex
        await self._retrying(lambda: adapter.delete(ref, key=key))

    async def set_typing(self, conversation: Address | str, typing: bool = True) -> None:
        self._check_open()
        address = Address.parse(conversation)
        adapter = self._adapter_for_event(address)
        self._require(adapter, "typing")
        await adapter.set_typing(address, typing)

    async def mark_read(self, target: Event | MessageRef) -> None:
        self._check_open()
        adapter = self._adapter_for_event(target)
        self._require(adapter, "receipts")
        await adapter.mark_read(_ref(target))

    async def download(self, attachment: Attachment, network: str) -> bytes:
        """The bytes of a received attachment."""
        self._check_open()
        if attachment.data is not None:
            return attachment.data
        return await self.adapter(network).download(attachment)

    # -- events ------------------------------------------------------------------------

    def events(self) -> EventStream:
        """Every event of every adapter, in arrival order (per conversation: network order).

        An event counts as handled (acknowledged) once the loop asks for the
        next one; ``ack`` does it earlier. Cancelling a wait (a timeout) leaves
        the stream usable.
        """
        self._check_open()
        return EventStream(self)

    async def _receive(self) -> Event | None:
        assert self._events_in is not None
        while True:
            try:
                event = await self._events_in.receive()
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                return None
            if not self._is_duplicate(event):
                return event
            log.debug("dropped a redelivered %s %s", type(event).__name__, event.id)
            await self.ack(event)

    def _is_duplicate(self, event: Event) -> bool:
        key = event_key(event)
        if key in self._handed or self.store.seen(key):
            return True
        self._handed[key] = None
        if len(self._handed) > self._handed_limit:
            self._handed.popitem(last=False)
        return False

    async def ack(self, event: Event) -> None:
        """Mark ``event`` handled: it will not be delivered again, even after a restart."""
        await self._adapter_for_event(event).ack(event)
        self.store.remember(event_key(event))

    def health(self) -> dict[str, AdapterHealth]:
        """Each adapter's connection state, last event time and the client's backlog."""
        backlog = 0
        if self._events_in is not None and self._stack is not None:
            backlog = self._events_in.statistics().current_buffer_used
        return {
            name: AdapterHealth(
                state=h.state, last_event=h.last_event, events=h.events, backlog=backlog
            )
            for name, h in self._health.items()
        }

    # -- conversations -------------------------------------------------------------------

    async def conversations(self, network: str | None = None) -> list[Conversation]:
        self._check_open()
        found: list[Conversation] = []
        for adapter in self._adapters.values():
            if network is None or adapter.network == network:
                found.extend(await adapter.conversations())
        return found

    async def conversation(self, address: Address | str) -> Conversation:
        self._check_open()
        address = Address.parse(address)
        return await self._adapter_for_event(address).conversation(address)

    async def create_conversation(
        self,
        network: str,
        *,
        name: str | None = None,
        members: Sequence[Address | str] = (),
        encrypted: bool = True,
        direct: bool = False,
    ) -> Conversation:
        self._check_open()
        adapter = self.adapter(network)
        self._require(adapter, "create_conversation")
        people = [Address.parse(m) for m in members]
        return await self._retrying(
            lambda: adapter.create_conversation(
                name=name, members=people, encrypted=encrypted, direct=direct
            )
        )

    async def join(self, address: Address | str) -> Conversation:
        self._check_open()
        address = Address.parse(address)
        return await self._retrying(lambda: self._adapter_for_event(address).join(address))

    async def leave(self, address: Address | str) -> None:
        self._check_open()
        address = Address.parse(address)
        await self._adapter_for_event(address).leave(address)

    async def invite(self, conversation: Address | str, user: Address | str) -> None:
        self._check_open()
        room = Address.parse(conversation)
        adapter = self._adapter_for_event(room)
        self._require(adapter, "invites")
        await adapter.invite(room, Address.parse(user))

    async def find_users(self, network: str, query: str) -> list[UserInfo]:
        self._check_open()
        adapter = self.adapter(network)
        self._require(adapter, "directory_search")
        return list(await adapter.find_users(query))

    async def encryption_state(self, address: Address | str) -> EncryptionState:
        self._check_open()
        address = Address.parse(address)
        return await self._adapter_for_event(address).encryption_state(address)

    async def set_disappearing(self, conversation: Address | str, ttl: timedelta | None) -> None:
        """Set (or with ``None`` turn off) the conversation's disappearing-message timer."""
        self._check_open()
        address = Address.parse(conversation)
        adapter = self._adapter_for_event(address)
        self._require(adapter, "disappearing_messages")
        await adapter.set_disappearing(address, ttl)

    def capabilities(self, network: str) -> Capabilities:
        return self.adapter(network).capabilities


class EventStream:
    """The iterator ``Client.events()`` returns."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._pending: Event | None = None

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> Event:
        previous, self._pending = self._pending, None
        if previous is not None:
            await self._client.ack(previous)
        event = await self._client._receive()
        if event is None:
            raise StopAsyncIteration
        self._pending = event
        return event


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    found: list[BaseException] = []
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            found.extend(_leaves(exc))
        else:
            found.append(exc)
    return found


def _ref(target: Event | MessageRef) -> MessageRef:
    return target.ref if isinstance(target, Event) else target
