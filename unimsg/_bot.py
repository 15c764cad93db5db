"""The dispatcher: commands, patterns, event handlers and relays on one client.

``async for event in client.events()`` is the plain loop; a bot is that loop
with dispatch, and the one reader of its client's events. ``Bot.run`` reads
events, hands each to the handlers that want it in a task of its own (at
most ``max_concurrency`` at a time, so one slow handler never holds up the
others) and to the relays it hosts, each relay in arrival order, and
acknowledges the event once all of them returned. The client commits
acknowledgements in arrival order per account (see ``_consumer``): at least
once, never lost.
"""

from __future__ import annotations

import logging
import math
import re
import shlex
from collections.abc import Callable
from contextlib import AsyncExitStack, ExitStack
from typing import Any, Self, TypeVar

import anyio
import anyio.abc
import attrs
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._address import Address
from ._client import Client
from ._contacts import ContactBook
from ._context import Context, Handler, MessageHandler
from ._events import Event, MessageDeleted, MessageEdited, MessageReceived, ReactionReceived
from ._exceptions import InvalidArgumentError, UsageError
from ._lifecycle import Background
from ._relay import Relay

__all__ = ["Bot", "Context"]

log = logging.getLogger("unimsg.bot")

E = TypeVar("E", bound=Event)

# What the bot itself wrote (from this client or another device of its account).
_AUTHORED = (MessageReceived, MessageEdited, MessageDeleted, ReactionReceived)


@attrs.define
class _Route:
    kind: type[Event]
    handler: Handler[Any]
    #: Registered by on_message: sees non-command messages whose text matches.
    on_message: bool = False
    pattern: re.Pattern[str] | None = None


class Bot(Background):
    """Dispatch a client's events to decorated handlers.

    ::

        bot = unimsg.Bot(client, prefix="!")

        @bot.command("deploy")
        async def deploy(ctx: unimsg.Context[unimsg.MessageReceived]) -> None:
            await ctx.reply(f"deploying {ctx.args[0]}")

        await bot.run()          # or: async with bot: ...

    A message starting with ``prefix`` is a command: it goes to that
    command's handler only (unknown commands get a short reply unless
    ``reply_unknown=False``; ``help`` lists the commands unless you define
    it). Other messages go to every ``on_message`` handler whose pattern
    matches. ``on(EventType)`` handlers see every event of that type,
    commands included. Messages, edits, deletes and reactions by the bot's
    own accounts are ignored.

    A handler that raises is logged on the ``unimsg.bot`` logger with the
    event's type and id (never its text) and the event is still
    acknowledged: redelivering it would only fail the same way.
    """

    def __init__(
        self,
        client: Client,
        *,
        prefix: str = "!",
        max_concurrency: int = 16,
        contacts: ContactBook | None = None,
        reply_unknown: bool = True,
    ) -> None:
        if max_concurrency < 1:
            raise InvalidArgumentError("max_concurrency must be at least 1")
        if not prefix or prefix.isspace():
            raise InvalidArgumentError("the command prefix must be a visible character or word")
        self.client = client
        self.prefix = prefix
        self.max_concurrency = max_concurrency
        self.contacts = contacts if contacts is not None else client.contacts
        self.reply_unknown = reply_unknown
        self._commands: dict[str, MessageHandler] = {}
        self._routes: list[_Route] = []
        self._relays: list[Relay] = []
        self._reader: anyio.CancelScope | None = None

    # -- registration ------------------------------------------------------------

    def command(self, name: str, *aliases: str) -> Callable[[MessageHandler], MessageHandler]:
        """Handle ``<prefix><name> args...``; ``ctx.args`` holds the words after it."""
        names = [n.lower() for n in (name, *aliases)]
        for n in names:
            if not n or any(c.isspace() for c in n):
                raise InvalidArgumentError(f"a command name is one word, not {n!r}")
            if n in self._commands:
                raise InvalidArgumentError(f"the command {n!r} has a handler already")

        def register(handler: MessageHandler) -> MessageHandler:
            for n in names:
                self._commands[n] = handler
            return handler

        return register

    def on_message(
        self, pattern: str | re.Pattern[str] | None = None
    ) -> Callable[[MessageHandler], MessageHandler]:
        """Handle non-command messages whose text matches ``pattern`` (``re.search``)."""
        compiled = re.compile(pattern) if isinstance(pattern, str) else pattern

        def register(handler: MessageHandler) -> MessageHandler:
            self._routes.append(_Route(MessageReceived, handler, on_message=True, pattern=compiled))
            return handler

        return register

    def on(self, kind: type[E]) -> Callable[[Handler[E]], Handler[E]]:
        """Handle every event of type ``kind`` (and its subclasses)."""

        def register(handler: Handler[E]) -> Handler[E]:
            self._routes.append(_Route(kind, handler))
            return handler

        return register

    @property
    def commands(self) -> list[str]:
        return sorted(self._commands)

    def relay(
        self,
        a: Address | str,
        b: Address | str,
        *,
        name: str | None = None,
        allow_downgrade: bool = False,
    ) -> Relay:
        """Mirror conversations ``a`` and ``b`` both ways while the bot runs (see `Relay`).

        Senders are named from the bot's contact book. Each relay's name keys
        its id map in the client's store: keep it stable across restarts.
        """
        relay = Relay(a, b, name=name, allow_downgrade=allow_downgrade, contacts=self.contacts)
        if any(r.name == relay.name for r in self._relays):
            raise InvalidArgumentError(f"the bot has a relay named {relay.name!r} already")
        self._relays.append(relay)
        return relay

    @property
    def relays(self) -> tuple[Relay, ...]:
        return tuple(self._relays)

    # -- running -------------------------------------------------------------------

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Dispatch events until the client closes or `stop` is called.

        On `stop`, handlers already running finish (and their events are
        acknowledged) before ``run`` returns; on cancellation they are
        cancelled and their events come again on the next start.
        """
        with await self._start_relays():
            await self._dispatch(task_status=task_status)

    async def _start_relays(self) -> ExitStack:
        started = ExitStack()
        try:
            for relay in self._relays:
                await relay.start(self.client)
                started.callback(relay.stop)
        except BaseException:
            started.close()
            raise
        return started

    async def _dispatch(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        if self._reader is not None:
            raise UsageError("this bot is running already")
        self.client._check_open()
        consumer = self.client._consumer
        assert consumer is not None
        consumer.claim(self)
        slots = anyio.Semaphore(self.max_concurrency, fast_acquire=True)
        lanes: dict[Relay, MemoryObjectSendStream[tuple[Event, anyio.Event]]] = {}
        try:
            async with anyio.create_task_group() as handlers:
                for relay in self._relays:
                    send, receive = anyio.create_memory_object_stream[tuple[Event, anyio.Event]](
                        math.inf
                    )
                    lanes[relay] = send
                    handlers.start_soon(_mirror, relay, receive)
                with anyio.CancelScope() as self._reader:
                    task_status.started()
                    while True:
                        # A slot is taken before reading, so that at most
                        # max_concurrency events are out of the adapters' hands
                        # and the rest wait there, unacknowledged.
                        await slots.acquire()
                        try:
                            event = await consumer.next()
                        except BaseException:
                            slots.release()
                            raise
                        if event is None:
                            slots.release()
                            break
                        plan = self._plan(event)
                        mirrored: list[anyio.Event] = []
                        for relay in self._relays_for(event):
                            # Queued here, in arrival order; the relay takes them one by one.
                            mirrored.append(anyio.Event())
                            lanes[relay].send_nowait((event, mirrored[-1]))
                        if not plan and not mirrored:
                            # Nothing to wait for: committed with the next group.
                            slots.release()
                            consumer.done(event)
                            continue
                        handlers.start_soon(self._handle, plan, event, mirrored, slots)
                # Stopped: the relays finish what they were given, then end.
                for lane in lanes.values():
                    lane.close()
            # Every handler finished: their events are committed before `run` returns.
            await consumer.flush()
        finally:
            self._reader = None
            consumer.release(self)

    def stop(self) -> None:
        """Stop reading events; handlers already running finish."""
        if self._reader is not None:
            self._reader.cancel()

    async def __aenter__(self) -> Self:
        async def setup(stack: AsyncExitStack) -> None:
            # Relays start here, not in the background task, so that a refused
            # downgrade raises from ``async with`` itself.
            stack.enter_context(await self._start_relays())
            tg = await stack.enter_async_context(anyio.create_task_group())
            stack.callback(self.stop)
            await tg.start(self._dispatch)

        await self._start_background(setup)
        return self

    # -- dispatch --------------------------------------------------------------------

    def _plan(self, event: Event) -> list[tuple[Handler[Any], Context[Any]]]:
        if _own(event):
            return []
        plan: list[tuple[Handler[Any], Context[Any]]] = []
        for route in self._routes:
            if not route.on_message and isinstance(event, route.kind):
                plan.append((route.handler, self._context(event)))
        if not isinstance(event, MessageReceived):
            return plan
        parsed = self._parse_command(event.text)
        if parsed is not None:
            name, args = parsed
            handler = self._commands.get(name) or self._builtin(name)
            plan.append((handler, self._context(event, command=name, args=args)))
            return plan
        for route in self._routes:
            if not route.on_message:
                continue
            if route.pattern is None:
                plan.append((route.handler, self._context(event)))
            elif found := route.pattern.search(event.text):
                plan.append((route.handler, self._context(event, match=found)))
        return plan

    def _context(self, event: Event, **extra: Any) -> Context[Any]:
        team = self.contacts.find(event.conversation) if event.conversation.is_group else None
        return Context(
            event=event,
            client=self.client,
            contact=self.contacts.find(event.sender),
            team=team,
            **extra,
        )

    def _parse_command(self, text: str) -> tuple[str, list[str]] | None:
        if not text.startswith(self.prefix):
            return None
        body = text[len(self.prefix) :]
        if not body or body[0].isspace():
            return None
        try:
            words = shlex.split(body)
        except ValueError:
            # An unbalanced quote: take the words as they stand.
            words = body.split()
        return words[0].lower(), words[1:]

    def _builtin(self, name: str) -> MessageHandler:
        async def help_(ctx: Context[MessageReceived]) -> None:
            names = ", ".join(self.prefix + c for c in self.commands) or "none"
            await ctx.reply(f"commands: {names}")

        async def unknown(ctx: Context[MessageReceived]) -> None:
            if self.reply_unknown:
                await ctx.reply(f"unknown command {self.prefix}{name}; try {self.prefix}help")

        return help_ if name == "help" else unknown

    def _relays_for(self, event: Event) -> list[Relay]:
        if _own(event):
            return []
        return [r for r in self._relays if event.conversation in r.conversations]

    async def _handle(
        self,
        plan: list[tuple[Handler[Any], Context[Any]]],
        event: Event,
        mirrored: list[anyio.Event],
        slots: anyio.Semaphore,
    ) -> None:
        try:
            for handler, ctx in plan:
                try:
                    await handler(ctx)
                except Exception:
                    # The id finds the event; the text may be private and stays out of logs.
                    log.exception(
                        "handler %s failed on %s %s",
                        getattr(handler, "__qualname__", handler),
                        type(event).__name__,
                        event.id,
                    )
            for done in mirrored:
                await done.wait()
        finally:
            slots.release()
        consumer = self.client._consumer
        assert consumer is not None
        await consumer.settle(event)


async def _mirror(
    relay: Relay, events: MemoryObjectReceiveStream[tuple[Event, anyio.Event]]
) -> None:
    async with events:
        async for event, done in events:
            # A failure ends the bot (its event stays unacknowledged, to come again).
            await relay.handle(event)
            done.set()


def _own(event: Event) -> bool:
    if isinstance(event, MessageReceived) and event.from_self:
        return True
    return isinstance(event, _AUTHORED) and event.sender == event.account
