"""The contract between the client and a network adapter.

An adapter is one account on one network. The client starts it with
``await task_group.start(adapter.run, sink)``: ``run`` connects, calls
``task_status.started()`` once the adapter can send, then keeps receiving and
hands each event to ``sink`` until it is cancelled, closing its connections on
the way out. Every other method may be called while ``run`` is active and
raises ``ClosedError`` otherwise.

Errors are unimsg exceptions (``unimsg._exceptions``), never the network
library's. Features the network lacks raise ``NotSupportedError`` and are
reported as ``False`` in ``capabilities``. ``unimsg.testing`` has a
conformance suite that checks all of this against a real adapter.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Protocol, runtime_checkable

import attrs
from anyio.abc import TaskStatus

from ._address import Address
from ._events import Event
from ._types import (
    Attachment,
    Capabilities,
    Content,
    Conversation,
    EncryptionState,
    MessageRef,
    SentMessage,
    UserInfo,
)

__all__ = ["Adapter", "EventSink", "OutgoingMessage"]

#: Where ``run`` hands events; awaiting it applies back-pressure.
EventSink = Callable[[Event], Awaitable[None]]


@attrs.frozen(kw_only=True)
class OutgoingMessage:
    """A message on its way out.

    ``idempotency_key`` stays the same across retries of one logical send, so
    an adapter whose network can de-duplicate (Matrix transaction ids) never
    creates the message twice.
    """

    to: Address
    content: Content
    idempotency_key: str
    require_encryption: bool = False


@runtime_checkable
class Adapter(Protocol):
    @property
    def network(self) -> str:
        """The network's name, the scheme of its addresses: ``"signal"``, ``"matrix"``."""
        ...

    @property
    def account(self) -> Address:
        """The account this adapter speaks for."""
        ...

    @property
    def capabilities(self) -> Capabilities: ...

    async def run(self, sink: EventSink, *, task_status: TaskStatus[None]) -> None: ...

    async def ack(self, event: Event) -> None:
        """The application has handled ``event``: its position may be committed."""
        ...

    async def send(self, message: OutgoingMessage) -> SentMessage: ...

    async def edit(self, target: MessageRef, content: Content, *, key: str) -> SentMessage: ...

    async def delete(self, target: MessageRef, *, key: str) -> None: ...

    async def react(
        self, target: MessageRef, emoji: str, *, remove: bool = False, key: str
    ) -> SentMessage: ...

    async def set_typing(self, conversation: Address, typing: bool) -> None: ...

    async def mark_read(self, target: MessageRef) -> None: ...

    async def download(self, attachment: Attachment) -> bytes: ...

    async def conversations(self) -> Sequence[Conversation]: ...

    async def conversation(self, address: Address) -> Conversation: ...

    async def create_conversation(
        self,
        *,
        name: str | None,
        members: Sequence[Address],
        encrypted: bool,
        direct: bool,
    ) -> Conversation: ...

    async def join(self, address: Address) -> Conversation: ...

    async def leave(self, address: Address) -> None: ...

    async def invite(self, conversation: Address, user: Address) -> None: ...

    async def find_users(self, query: str) -> Sequence[UserInfo]: ...

    async def encryption_state(self, address: Address) -> EncryptionState: ...

    async def set_disappearing(self, conversation: Address, ttl: timedelta | None) -> None: ...

    async def trust(self, user: Address, fingerprint: str | None = None, /) -> None:
        """Accept ``user``'s current identity (devices, safety number) after a change.

        With ``fingerprint`` (a Signal safety number, a Matrix device
        fingerprint) the identity is checked against it and marked verified.
        """
        ...
