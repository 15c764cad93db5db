"""Incremental Server-Sent Events parser for signal-cli's ``GET /api/v1/events``."""

from __future__ import annotations

import attrs

from ._jsonrpc import DEFAULT_MAX_LINE_LENGTH, JsonValue, LineBuffer, _loads

__all__ = ["SseEvent", "SseParser"]


@attrs.frozen
class SseEvent:
    """One dispatched Server-Sent Event. signal-cli only sends ``receive``."""

    event: str
    data: str
    id: str | None = None
    retry: int | None = None

    def json(self) -> JsonValue:
        """``data`` decoded as JSON; :class:`RemoteProtocolError` if it is not."""
        return _loads(self.data.encode())


class SseParser:
    """Incremental ``text/event-stream`` parser (WHATWG rules).

    Comment lines (``:``, signal-cli's keep-alive) produce no event; watch
    :attr:`comments` or the raw byte flow to detect a live but idle stream.
    """

    def __init__(self, *, max_line_length: int = DEFAULT_MAX_LINE_LENGTH) -> None:
        self.last_event_id: str | None = None
        self.retry: int | None = None
        self.comments = 0
        self._lines = LineBuffer(max_line_length)
        self._started = False
        self._event = ""
        self._data: list[str] = []
        self._retry_seen: int | None = None

    def feed(self, data: bytes) -> list[SseEvent]:
        """Parse ``data`` and return the events it completed."""
        if not self._started and data:
            self._started = True
            if data.startswith(b"\xef\xbb\xbf"):
                data = data[3:]
        self._lines.feed(data)
        events: list[SseEvent] = []
        while True:
            raw = self._lines.next_line()
            if raw is None:
                return events
            event = self._line(raw.decode("utf-8", errors="replace"))
            if event is not None:
                events.append(event)

    def _line(self, line: str) -> SseEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            self.comments += 1
            return None
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id":
            if "\0" not in value:
                self.last_event_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self.retry = self._retry_seen = int(value)
        return None

    def _dispatch(self) -> SseEvent | None:
        event, data, retry = self._event or "message", self._data, self._retry_seen
        self._event, self._data, self._retry_seen = "", [], None
        if not data:
            return None
        return SseEvent(event, "\n".join(data), self.last_event_id, retry)
