"""Bot helpers over the event stream: commands, patterns, bounded concurrent handlers.

An optional layer: ``async for event in client.events()`` stays the primary
API, and a bot is that loop with dispatch. ``Bot.run`` reads events, hands
each to the handlers that want it in a task of its own (at most
``max_concurrency`` at a time, so one slow handler never holds up the
others) and acknowledges the event once its handlers returned.

Acknowledgement is in arrival order per account, even though handlers finish
out of order: adapters commit a resume position (the fake network a cursor,
Matrix a sync token), and acknowledging event 7 while event 5 is still being
handled would move that position past 5 and lose it in a crash. So an event
is acknowledged when it and every event its account delivered before it are
done. A crash redelivers everything after the oldest unfinished event: at
least once, never lost.
"""

from __future__ import annotations

import logging
import re
import shlex
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Generic, Literal, Self, TypeAlias, TypeVar

import anyio
import anyio.abc
import attrs

from ._address import Address
from ._client import Client, Target
from ._contacts import ContactBook
from ._events import Event, MessageDeleted, MessageEdited, MessageReceived, ReactionReceived
from ._exceptions import InvalidArgumentError, UsageError
from ._lifecycle import Background
from ._router import Contact
from ._types import Content, SentMessage

__all__ = ["Bot", "Context"]

log = logging.getLogger("unimsg.bot")

E = TypeVar("E", bound=Event)
Handler: TypeAlias = Callable[["Context[E]"], Awaitable[None]]
MessageHandler: TypeAlias = Callable[["Context[MessageReceived]"], Awaitable[None]]

# What the bot itself wrote (from this client or another device of its account).
_AUTHORED = (MessageReceived, MessageEdited, MessageDeleted, ReactionReceived)


@attrs.frozen(kw_only=True, eq=False)
class Context(Generic[E]):
    """What a handler gets: the event, who and where, and ways to answer.

    ``contact`` is the sender's entry in the bot's contact book and ``team``
    the conversation's, when known. Command handlers get ``command`` and
    ``args`` (``!deploy staging`` gives ``"deploy"`` and ``("staging",)``);
    pattern handlers get the regular expression's ``match``.
    """

    event: E
    client: Client
    contact: Contact | None = None
    team: Contact | None = None
    command: str | None = None
    args: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    match: re.Match[str] | None = None

    @property
    def sender(self) -> Address:
        return self.event.sender

    @property
    def conversation(self) -> Address:
        return self.event.conversation

    @property
    def network(self) -> str:
        return self.event.network

    async def reply(
        self,
        content: str | Content,
        *,
        format: Literal["plain", "markdown"] | None = None,
        quote: bool = True,
    ) -> SentMessage:
        """Answer in the event's conversation, over the network it came from."""
        return await self.client.reply(self.event, content, format=format, quote=quote)

    async def send(
        self,
        to: Target,
        content: str | Content,
        *,
        format: Literal["plain", "markdown"] | None = None,
    ) -> SentMessage:
        """Send elsewhere, through the client's routes."""
        return await self.client.send(to, content, format=format)

    async def react(self, emoji: str, *, remove: bool = False) -> SentMessage:
        return await self.client.react(self.event, emoji, remove=remove)

    async def set_typing(self, typing: bool = True) -> None:
        await self.client.set_typing(self.event.conversation, typing)


@attrs.define(eq=False)
class _Pending:
    event: Event
    done: bool = False


class _InOrderAcks:
    """Acknowledges events per account in arrival order, each once it is done."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._queues: dict[tuple[str, str], deque[_Pending]] = {}
        self._lock = anyio.Lock()

    def arrived(self, event: Event) -> _Pending:
        pending = _Pending(event)
        key = (event.network, event.account.id)
        self._queues.setdefault(key, deque()).append(pending)
        return pending

    async def done(self, pending: _Pending) -> None:
        pending.done = True
        queue = self._queues[(pending.event.network, pending.event.account.id)]
        # One lock for all accounts keeps each account's acks in order even
        # when two handlers finish at once; acks are cheap, contention is not a concern.
        async with self._lock:
            while queue and queue[0].done:
                event = queue.popleft().event
                try:
                    await self._client.ack(event)
                except Exception:
                    log.warning("could not acknowledge %s %s", type(event).__name__, event.id)

    def unacknowledged(self) -> int:
        return sum(len(q) for q in self._queues.values())


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
        self._acks = _InOrderAcks(client)
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

    # -- running -------------------------------------------------------------------

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Dispatch events until the client closes or `stop` is called.

        On `stop`, handlers already running finish (and their events are
        acknowledged) before ``run`` returns; on cancellation they are
        cancelled and their events come again on the next start.
        """
        if self._reader is not None:
            raise UsageError("this bot is running already")
        slots = anyio.Semaphore(self.max_concurrency)
        try:
            async with anyio.create_task_group() as handlers:
                with anyio.CancelScope() as self._reader:
                    task_status.started()
                    while True:
                        # A slot is taken before reading, so that at most
                        # max_concurrency events are out of the adapters' hands
                        # and the rest wait there, unacknowledged.
                        await slots.acquire()
                        try:
                            # Not events(): its iterator acknowledges an event
                            # when the next is asked for, while its handler may
                            # still be running.
                            event = await self.client.receive()
                        except BaseException:
                            slots.release()
                            raise
                        if event is None:
                            slots.release()
                            break
                        pending = self._acks.arrived(event)
                        plan = self._plan(event)
                        if not plan:
                            slots.release()
                            await self._acks.done(pending)
                            continue
                        handlers.start_soon(self._handle, plan, pending, slots)
        finally:
            self._reader = None

    def stop(self) -> None:
        """Stop reading events; handlers already running finish."""
        if self._reader is not None:
            self._reader.cancel()

    async def __aenter__(self) -> Self:
        await self._start_background(self.run, self.stop)
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

    async def _handle(
        self,
        plan: list[tuple[Handler[Any], Context[Any]]],
        pending: _Pending,
        slots: anyio.Semaphore,
    ) -> None:
        event = pending.event
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
        finally:
            slots.release()
        await self._acks.done(pending)


def _own(event: Event) -> bool:
    if isinstance(event, MessageReceived) and event.from_self:
        return True
    return isinstance(event, _AUTHORED) and event.sender == event.account
