"""What the client counts for ``Client.health()``, and the keys that identify events."""

from __future__ import annotations

import time
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
        #: Seconds since the epoch; a float per event, the datetime when asked.
        self._last: float | None = None
        self.events = 0

    @property
    def last_event(self) -> datetime | None:
        return None if self._last is None else datetime.fromtimestamp(self._last, UTC)

    def saw(self, event: Event) -> None:
        self.events += 1
        self._last = time.time()
        if isinstance(event, ConnectionStateChanged):
            self.state = event.state
