"""The contract between the client and a network adapter: what every adapter must provide.

An adapter is one account on one network. The client starts it with
``await task_group.start(adapter.run, sink)``: ``run`` connects, calls
``task_status.started()`` once the adapter can send, then keeps receiving and
hands each event to ``sink`` until it is cancelled, closing its connections on
the way out. ``send`` may be called while ``run`` is active and raises
``ClosedError`` otherwise.

That is all an adapter must do. Editing, reactions, conversations, encryption
and the rest are optional: an adapter offers one by implementing its protocol
(``unimsg._capabilities``), and the client derives ``capabilities()`` from
the class and raises ``NotSupportedError`` for the rest itself.

Errors are unimsg exceptions (``unimsg._exceptions``), never the network
library's. ``unimsg.testing.AdapterConformance`` checks all of this against a
real adapter.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import attrs
from anyio.abc import TaskStatus

from ._address import Address
from ._events import Event
from ._types import Content, SentMessage

__all__ = ["Adapter", "Configurable", "EventSink", "OutgoingMessage"]

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
    """The required contract; see the module docstring and docs/adapters.md."""

    @property
    def network(self) -> str:
        """The network's name, the scheme of its addresses: ``"signal"``, ``"matrix"``."""
        ...

    @property
    def account(self) -> Address:
        """The account this adapter speaks for."""
        ...

    @property
    def idempotent_sends(self) -> bool:
        """A retried send with the same idempotency key never creates a second message."""
        ...

    @property
    def max_message_bytes(self) -> int | None:
        """The largest text payload in bytes the network accepts, if it says."""
        ...

    async def run(self, sink: EventSink, *, task_status: TaskStatus[None]) -> None: ...

    async def ack(self, event: Event) -> None:
        """The application has handled ``event``: its position may be committed."""
        ...

    async def send(self, message: OutgoingMessage) -> SentMessage:
        """Send; enforce ``require_encryption``; return the network's message id."""
        ...


@runtime_checkable
class Configurable(Protocol):
    """An adapter class that can be built from a ``[[adapters]]`` table of a config file."""

    @classmethod
    def from_config(cls, table: Mapping[str, Any], *, base_dir: Path) -> Adapter: ...
