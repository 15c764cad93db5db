"""What a bot's handler gets: the event, who and where, and ways to answer."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Generic, Literal, TypeAlias, TypeVar

import attrs

from ._address import Address
from ._client import Client, Target
from ._events import Event, MessageReceived
from ._router import Contact
from ._types import Content, SentMessage

__all__ = ["Context", "Handler", "MessageHandler"]

E = TypeVar("E", bound=Event)
Handler: TypeAlias = Callable[["Context[E]"], Awaitable[None]]
MessageHandler: TypeAlias = Callable[["Context[MessageReceived]"], Awaitable[None]]


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
