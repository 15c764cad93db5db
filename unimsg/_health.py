"""What ``Client.health()`` reports, and the keys that identify events."""

from __future__ import annotations

from datetime import UTC, datetime

import attrs

from ._events import ConnectionState, ConnectionStateChanged, Event

__all__ = ["AdapterHealth", "event_key"]


def event_key(event: Event) -> str:
    """Identifies an event across redeliveries and restarts."""
    return "\x1f".join(
        (type(event).__name__, event.network, event.account.id, event.conversation.id, event.id)
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


@attrs.frozen(kw_only=True)
class AdapterHealth:
    """What ``Client.health()`` reports for one adapter."""

    state: ConnectionState
    #: When the adapter last delivered an event (``None``: not yet).
    last_event: datetime | None
    events: int
    #: Events received but not yet read by the application (client-wide).
    backlog: int
    #: ``"active"`` or ``"standby"`` with a reader lease (``Client(reader_lease=...)``),
    #: else ``"single"``: the only reader of its store.
    role: str = "single"
    #: Seconds this process has held the reader lease (``None``: no lease held).
    lease_age: float | None = None
    #: Queued sends in the store (every worker's) when the outbox last counted.
    outbox_depth: int = 0
