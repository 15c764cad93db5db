"""What the client counts for ``Client.health()``, and the keys that identify events."""

from __future__ import annotations

from datetime import UTC, datetime

from ._event import ConnectionState, ConnectionStateChanged, Event

__all__ = ["event_key"]


def event_key(event: Event) -> str:
    """Identifies an event across redeliveries and restarts.

    With its sender: on Signal an id is the author's timestamp, which two members
    of a group can share.
    """
    return "\x1f".join(
        (
            type(event).__name__,
            event.network,
            event.account.id,
            event.conversation.id,
            event.sender.id,
            event.id,
        )
    )


class _Health:
    def __init__(self) -> None:
        self.state = ConnectionState.DISCONNECTED
        self.last_event: datetime | None = None
        self.events = 0

    def saw(self, event: Event) -> None:
        self.events += 1
        self.last_event = datetime.now(UTC)
        if isinstance(event, ConnectionStateChanged):
            self.state = event.state

