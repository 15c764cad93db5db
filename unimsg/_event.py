"""The base of every event, and the connection events the client itself reads.

The client's core needs only these; the other event classes (`unimsg._events`)
are built when an adapter or the application first uses them, which keeps
``from unimsg import Client`` quick.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import attrs

from ._address import Address
from ._types import MessageRef

__all__ = ["ConnectionState", "ConnectionStateChanged", "Event"]


@attrs.frozen(kw_only=True)
class Event:
    network: str
    account: Address
    conversation: Address
    sender: Address
    id: str
    timestamp: datetime
    raw: Any = attrs.field(default=None, repr=False, eq=False)

    @property
    def ref(self) -> MessageRef:
        """A reference to this event, to reply, react, edit, delete or mark read."""
        return MessageRef(
            conversation=self.conversation, id=self.id, sender=self.sender, timestamp=self.timestamp
        )


class ConnectionState(enum.Enum):
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    DISCONNECTED = "disconnected"


@attrs.frozen(kw_only=True)
class ConnectionStateChanged(Event):
    state: ConnectionState
    reason: str | None = None
