"""The client's core: adapters, lifecycle, routing, retries and the event stream."""

from __future__ import annotations

import math
import os
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from types import TracebackType
from typing import TYPE_CHECKING, Self, TypeVar

import anyio

if TYPE_CHECKING:
    # Annotations only: anyio's streams load when a client opens.
    from anyio.abc import TaskStatus
    from anyio.streams.memory import MemoryObjectSendStream

from ._adapter import Adapter
from ._address import Address
from ._capabilities import SupportsEncryption, SupportsSharedState, capabilities_of, supports
from ._consumer import Consumer
from ._contacts import ContactBook
from ._event import ConnectionState, Event
from ._exceptions import (
    AdapterNotFoundError,
    ClosedError,
    EncryptionRequiredError,
    InvalidArgumentError,
    OutcomeUnknownError,
    RateLimitedError,
)
from ._health import _Health
from ._lifecycle import Background
from ._log import logger
from ._outbox import Outbox
from ._router import Contact, Route, adapter_name, plan_routes
from ._store import MemoryStore, Store
from ._streams import EventStream, Sink
from ._types import MessageRef

if TYPE_CHECKING:
    from ._info import AdapterHealth, Capabilities
    from ._lease import ReaderLease

__all__ = ["ClientCore", "EventStream"]

T = TypeVar("T")
Target = Address | Contact | str


def _target(value: Target) -> Address | Contact:
    return value if isinstance(value, Contact) else Address.parse(value)


class ClientCore(Background):
    """One application's view of all its accounts.

    ``async with Client(signal, matrix, routes=[...]) as client:`` starts
    every adapter (returning once each can send) and stops them on exit.

    ``rate_limit_budget`` bounds how long (seconds) one call waits out rate
    limits before `RateLimitedError` reaches the caller; a retried send keeps
    its idempotency key, so it is never duplicated where the network can tell.

    ``reader_lease`` (seconds) makes processes sharing one store (PostgreSQL)
    take turns reading these accounts: ``async with`` waits as a standby
    until this process holds the lease, and the client fails with
    `ConnectError` if it loses it (see docs/several-processes.md).

    With a ``store``, adapters that keep a resume position
    (`SupportsSharedState`, such as Matrix's sync position) keep it there
    too, next to the acknowledgements; without one each keeps its own.

    ``contacts`` is the application's `ContactBook`; bots and relays made on
    this client name senders from it unless given their own.
    """

    def __init__(
        self,
        *adapters: Adapter,
        routes: Sequence[Route] = (),
        require_encryption: bool = False,
        rate_limit_budget: float = 30.0,
        event_buffer: int = 1024,
        store: Store | str | os.PathLike[str] | None = None,
        reader_lease: float | None = None,
        contacts: ContactBook | None = None,
    ) -> None:
        if not adapters:
            raise InvalidArgumentError("a Client needs at least one adapter")
        names = [adapter_name(a) for a in adapters]
        if len(set(names)) != len(names):
            raise InvalidArgumentError(f"two adapters for the same account: {names}")
        self._adapters = dict(zip(names, adapters, strict=True))
        self._capabilities = {name: capabilities_of(a) for name, a in self._adapters.items()}
        #: Network -> its first adapter: where an address goes when no route says otherwise.
        self._first: dict[str, Adapter] = {}
        for adapter in reversed(adapters):
            self._first[adapter.network] = adapter
        self.routes = tuple(routes)
        self.contacts = contacts if contacts is not None else ContactBook()
        self.require_encryption = require_encryption
        self.rate_limit_budget = rate_limit_budget
        self._event_buffer = event_buffer
        self._events_out: MemoryObjectSendStream[Event] | None = None
        self._consumer: Consumer | None = None
        self._closed = False
        self._shares_state = store is not None
        if store is None:
            store = MemoryStore()
        elif isinstance(store, str) and store.startswith(("postgresql://", "postgres://")):
            from ._postgres import PostgresStore  # psycopg only for clients that use it

            store = PostgresStore(store)
        elif not isinstance(store, Store):
            from ._sqlite import SqliteStore  # sqlite3 only for clients that keep a file

            store = SqliteStore(store)
        self.store: Store = store
        self._health = {name: _Health() for name in self._adapters}
        self.outbox = Outbox(self.store, self._adapters.__getitem__, names=list(self._adapters))
        self._lease: ReaderLease | None = None
        if reader_lease is not None:
            from ._lease import ReaderLease

            name = "reader:" + ",".join(sorted(self._adapters))
            self._lease = ReaderLease(self.store, name, self.outbox.worker, reader_lease)

    # -- lifecycle -----------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._stack is not None or self._closed:
            raise ClosedError("a Client can be opened once; create a new one")
        try:
            await self._start_background(self._setup)
        except BaseException:
            self._closed = True
            raise
        return self

    async def _setup(self, stack: AsyncExitStack) -> None:
        send, receive = anyio.create_memory_object_stream[Event](self._event_buffer)
        self._events_out = send
        self._consumer = Consumer(self.store, receive, self._adapter_for_event)
        stack.push_async_callback(receive.aclose)
        stack.push_async_callback(send.aclose)
        await self.store.open()
        stack.push_async_callback(self.store.close)
        tg = await stack.enter_async_context(anyio.create_task_group())
        stack.callback(tg.cancel_scope.cancel)
        if self._lease is not None:
            # Standing by until this process may read; given back at exit.
            await self._lease.acquire()
            stack.push_async_callback(self._lease.release)
            tg.start_soon(self._lease.keep)
        if self._shares_state:
            from ._adapter_state import StoreAdapterState

            for name, adapter in self._adapters.items():
                if supports(adapter, SupportsSharedState):
                    adapter.use_state(StoreAdapterState(self.store, name))
        # Before the adapters stop: what the application finished is committed.
        stack.push_async_exit(self._last_commit)
        await self._start_adapters(tg)
        # Started after the adapters: queued sends from a previous run go out first thing.
        await tg.start(self.outbox.run)

    async def _start_adapters(self, tg: anyio.abc.TaskGroup) -> None:
        """All adapters at once (a slow login does not delay the others); the first
        failure stops the rest and is raised as it is."""
        failed: list[BaseException] = []

        async def start(name: str, adapter: Adapter) -> None:
            try:
                await tg.start(self._run_adapter, adapter)
            except Exception as exc:
                failed.append(exc)
                starting.cancel_scope.cancel()
            else:
                self._health[name].state = ConnectionState.CONNECTED

        async with anyio.create_task_group() as starting:
            for name, adapter in self._adapters.items():
                starting.start_soon(start, name, adapter)
        if failed:
            raise failed[0]

    async def _last_commit(self, exc_type: type[BaseException] | None, *_: object) -> None:
        # Not after an error: the events in hand then come again on the next start.
        if exc_type is None and self._consumer is not None:
            with anyio.move_on_after(10, shield=True):
                await self._consumer.flush()

    async def aclose(self) -> None:
        await self.__aexit__(None, None, None)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        self._closed = True
        return await super().__aexit__(exc_type, exc, tb)

    async def _run_adapter(self, adapter: Adapter, *, task_status: TaskStatus[None]) -> None:
        assert self._events_out is not None
        health = self._health[adapter_name(adapter)]
        try:
            await adapter.run(Sink(self._events_out, health), task_status=task_status)
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
        raise AdapterNotFoundError(
            f"this client has no adapter {name_or_network!r} (it has: {', '.join(self._adapters)})"
        )

    def _adapter_for_event(self, source: Event | MessageRef | Address) -> Adapter:
        if isinstance(source, Event):
            name = f"{source.network}:{source.account.id}"
            if name in self._adapters:
                return self._adapters[name]
            return self.adapter(source.network)
        address = source.conversation if isinstance(source, MessageRef) else source
        return self.adapter(address.network)

    def _unrouted(self, target: Target, via: str | None) -> tuple[Adapter, Address] | None:
        """Without routes: the first adapter of the address's network, as `_route` would pick."""
        if via is None and not self.routes and not isinstance(target, Contact):
            address = Address.parse(target)
            first = self._first.get(address.network)
            if first is not None:
                return first, address
        return None

    async def _route(self, target: Target, via: str | None = None) -> tuple[Adapter, Address]:
        unrouted = self._unrouted(target, via)
        if unrouted is not None:
            return unrouted
        routes = self.routes if via is None else (Route(via=via),)
        candidates = plan_routes(_target(target), routes, self._adapters.values())
        # Only encrypted routes ask first; the adapter itself enforces a
        # client-wide requirement, which keeps the common path to one call.
        for route, adapter, identity in candidates:
            if not route.encrypted:
                return adapter, identity
            encrypting = adapter  # narrowed below; ``adapter`` stays what is returned
            if not supports(encrypting, SupportsEncryption):
                continue
            state = await encrypting.encryption_state(identity)
            if state.encrypted:
                return adapter, identity
        raise EncryptionRequiredError(
            f"no encrypted conversation reaches {target}: every fitting route is plaintext"
        )

    async def _retrying(
        self, call: Callable[[], Awaitable[T]], limited: RateLimitedError | None = None
    ) -> T:
        """``call()`` again after each rate limit, within ``rate_limit_budget``.

        ``limited`` is the first attempt's rate limit when the caller made
        that attempt itself (a send does, to keep its common path short).
        """
        waited = 0.0
        while True:
            if limited is not None:
                if isinstance(limited, OutcomeUnknownError):
                    raise limited  # part of it may have gone out: retrying could duplicate
                delay = limited.retry_after if limited.retry_after is not None else math.inf
                if waited + delay > self.rate_limit_budget:
                    raise limited
                logger().debug("rate limited; retrying in %.2fs", delay)
                waited += delay
                await anyio.sleep(delay)
            try:
                return await call()
            except RateLimitedError as exc:
                limited = exc

    # -- events ------------------------------------------------------------------------

    def events(self, *, auto_ack: bool = True) -> EventStream:
        """Every event of every adapter, in arrival order (per conversation: network order).

        With ``auto_ack`` an event counts as handled (acknowledged) once the
        loop asks for the next one, and is committed (to the store, then the
        adapter) before the loop waits for more events, at least every 256
        events and when the client closes; ``ack`` commits at once. Leaving
        the loop (``break``, an error) leaves its last event unacknowledged. With
        ``auto_ack=False`` nothing is acknowledged until you call ``ack``.
        A client has one reader: a second one in another task (another
        loop, a `Bot`) raises `ConcurrentReaderError`. Cancelling a wait (a
        timeout) leaves the stream usable.
        """
        self._check_open()
        assert self._consumer is not None
        return EventStream(self._consumer, auto_ack=auto_ack)

    async def ack(self, event: Event) -> None:
        """Mark ``event`` handled: it will not be delivered again, even after a restart.

        Acknowledgements take effect in arrival order per account: an event
        is committed once every event its account delivered before it was
        acknowledged too, so acknowledge each event you read.
        """
        if self._consumer is None:
            raise ClosedError("the client is not open yet: use 'async with Client(...)'")
        await self._consumer.ack(event)

    def health(self) -> dict[str, AdapterHealth]:
        """Each adapter's connection state, last event time and the client's backlog."""
        backlog = 0
        if self._consumer is not None and self._stack is not None:
            backlog = self._consumer.backlog()
        lease = self._lease
        from ._info import AdapterHealth

        return {
            name: AdapterHealth(
                state=h.state,
                last_event=h.last_event,
                events=h.events,
                backlog=backlog,
                role="single" if lease is None else lease.role,
                lease_age=None if lease is None else lease.age(),
                outbox_depth=self.outbox.depth,
            )
            for name, h in self._health.items()
        }

    def capabilities(self, network: str) -> Capabilities:
        """What the adapter of ``network`` (or ``network:account``) supports."""
        return self._capabilities[adapter_name(self.adapter(network))]


def _ref(target: Event | MessageRef) -> MessageRef:
    return target.ref if isinstance(target, Event) else target
