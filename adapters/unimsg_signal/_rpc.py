"""One JSON-RPC connection to signal-cli: requests matched by id, notifications out.

`LineSession` multiplexes any number of requests over one line-framed stream
(signal-cli answers in completion order, interleaved with notifications);
`HttpSession` (``_http_session``) is its counterpart over HTTP. Both return
the daemon's answer (`Response` or `ErrorResponse`); turning errors into
exceptions is the caller's job, done in one place (``_errors``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

import anyio
import anyio.abc
import sniffio

from unimsg import ConnectError, RemoteProtocolError

from ._inbox import Inbox
from ._jsonrpc import (
    ErrorResponse,
    JsonRpcConnection,
    JsonValue,
    Notification,
    Response,
)
from ._transports import STREAM_ERRORS, ProcessStream

__all__ = ["Answer", "AnswerUnreadable", "LineSession", "RequestLost"]

log = logging.getLogger("unimsg.signal")
Answer = Response | ErrorResponse


class RequestLost(ConnectError):
    """No answer came. ``written``: the request may have reached the daemon (and taken
    effect); otherwise it certainly did not leave."""

    def __init__(self, message: str, *, written: bool) -> None:
        self.written = written
        super().__init__(message)


class AnswerUnreadable(RemoteProtocolError):
    """The daemon answered, unreadably: the request may have taken effect."""


# Deadlines and write times are only compared with each other and slept on relatively,
# so any monotonic clock will do; anyio.current_time() looks the backend up each call.
_now = time.monotonic


class _Done(Protocol):
    """What a waiting request sleeps on: an `anyio.Event`, or `_FutureDone` under asyncio."""

    def set(self) -> None: ...
    def is_set(self) -> bool: ...
    def wait(self) -> Awaitable[object]: ...


class _FutureDone(asyncio.Future[None]):
    """A request's wake-up under asyncio: a future its caller awaits directly. anyio's
    Event wraps asyncio's, which makes a future per wait behind two more frames; one
    caller waits per request, so the future alone will do."""

    __slots__ = ()

    def set(self) -> None:
        if not self.done():
            self.set_result(None)

    def is_set(self) -> bool:
        return self.done()

    def wait(self) -> _FutureDone:
        return self


class _Waiter:
    # A plain slotted class: one is made per request, attrs' generated __init__ costs more.
    __slots__ = ("answer", "deadline", "done", "error", "garbled", "written")

    def __init__(self, deadline: float, done: _Done) -> None:
        self.deadline = deadline
        #: The request's line was handed to the stream (it may have reached the daemon).
        self.written = False
        self.done = done
        self.answer: Answer | None = None
        self.error: Exception | None = None
        #: An unreadable line arrived while this request waited: maybe its answer.
        self.garbled = False


class LineSession:
    """Requests and notifications over one TCP, UNIX or stdio stream.

    Run `serve` in a task; it returns when the stream ends, failing every
    request still waiting with `ConnectError`.

    Callers never write: they queue their line and wait for the answer, and one
    writer task sends whatever is queued in a single write. A caller's
    cancellation therefore cannot cut a line in half (which would corrupt
    every later request), no lock or shielded scope is paid per request, and
    concurrent requests share system calls. Likewise one watchdog task times
    out requests, instead of a cancel scope and a timer per request: it sleeps
    until the earliest deadline and is woken only by a request due sooner.
    """

    def __init__(
        self,
        stream: anyio.abc.ByteStream,
        on_notification: Callable[[Notification], None],
        inbox: Inbox | None = None,
    ) -> None:
        self._stream = stream
        # Streams that can write without waiting let an idle connection skip the writer.
        self._send_nowait: Callable[[bytes], bool] | None = getattr(stream, "send_nowait", None)
        self._on_notification = on_notification
        self._inbox = inbox
        self._codec = JsonRpcConnection()
        self._pending: dict[int | str, _Waiter] = {}
        self._lines: list[bytes] = []
        # The waiter of each line in _lines (None for notifications), index for index.
        self._queued: list[_Waiter | None] = []
        self._wake: anyio.Event | None = None
        # When the write in progress began; a caller that times out while one
        # write has been stuck that long declares the daemon gone.
        self._writing_since: float | None = None
        self._nudge = anyio.Event()
        # The deadline the watchdog sleeps until; a request due earlier wakes it.
        self._watching_until = math.inf
        self.closed = anyio.Event()
        self._closed = False  # closed.is_set(), read without two calls per request
        self.close_reason = "the connection closed"
        self.garbage_lines = 0
        self._sink_error: Exception | None = None
        # What a request waits on, made without looking the backend up per request
        # (``anyio.Event()`` does, a measurable share of a request's cost).
        self._new_event: Callable[[], _Done]
        if sniffio.current_async_library() == "asyncio":
            self._new_event = functools.partial(_FutureDone, loop=asyncio.get_running_loop())
        else:
            self._new_event = type(anyio.Event())

    async def serve(self) -> None:
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._write_loop)
                tg.start_soon(self._watchdog)
                inbox, pending = self._inbox, self._pending
                # Streams that can push let the loop's read callback match answers to
                # waiting callers itself: a caller wakes without a reader task in between.
                pump: Callable[[Callable[[bytes], bool]], Awaitable[None]] | None
                pump = getattr(self._stream, "pump", None)
                while True:
                    if pump is not None:
                        await pump(self._sink)
                        if self._sink_error is not None:
                            raise self._sink_error
                        if inbox is not None and len(inbox) >= inbox.limit:
                            await inbox.wait_for_room(lambda: bool(pending))
                            continue
                        # Otherwise the stream ended: receive says how.
                    try:
                        data = await self._stream.receive()
                    except STREAM_ERRORS as exc:
                        self.close_reason = (
                            f"the daemon closed the connection ({type(exc).__name__})"
                        )
                        if isinstance(self._stream, ProcessStream):
                            self.close_reason += await self._stream.exit_report()
                        break
                    self._feed(data)
                    if inbox is not None and len(inbox) >= inbox.limit:
                        # A slow application: stop reading, unless a request waits for
                        # its answer behind the envelopes.
                        await inbox.wait_for_room(lambda: bool(pending))
                tg.cancel_scope.cancel()
        finally:
            self._close(self.close_reason)

    def _sink(self, data: bytes) -> bool:
        """`_feed` from the transport's read callback; ``False`` asks it to stop reading
        (the inbox is full and no request waits for its answer)."""
        try:
            self._feed(data)
        except Exception as exc:  # re-raised by serve, not lost in the transport
            self._sink_error = exc
            return False
        if self._pending:  # a request waits (the one just answered, until it returns)
            return True
        inbox = self._inbox
        return inbox is None or len(inbox) < inbox.limit

    async def _write_loop(self) -> None:
        lines, queued = self._lines, self._queued
        while True:
            if not lines:
                self._wake = wake = anyio.Event()
                await wake.wait()
                continue
            data = lines[0] if len(lines) == 1 else b"".join(lines)
            lines.clear()
            for waiter in queued:
                if waiter is not None:
                    waiter.written = True
            queued.clear()
            self._writing_since = _now()
            try:
                await self._stream.send(data)
            except STREAM_ERRORS as exc:
                self._close(f"cannot write to the daemon ({type(exc).__name__})")
                return
            finally:
                self._writing_since = None

    async def _watchdog(self) -> None:
        while True:
            now = _now()
            earliest = math.inf
            for waiter in list(self._pending.values()):
                if waiter.done.is_set():
                    continue
                if waiter.deadline <= now:
                    waiter.done.set()
                elif waiter.deadline < earliest:
                    earliest = waiter.deadline
            self._watching_until = earliest
            self._nudge = nudge = anyio.Event()
            with anyio.move_on_after(earliest - now):
                await nudge.wait()

    def _close(self, reason: str) -> None:
        if self._closed:
            return
        self._closed = True
        self.close_reason = reason
        for waiter in self._pending.values():
            if not waiter.done.is_set():
                waiter.error = RequestLost(
                    f"lost the connection to signal-cli: {reason}", written=waiter.written
                )
                waiter.done.set()
        self.closed.set()
        if self._wake is not None:
            self._wake.set()

    def _feed(self, data: bytes) -> None:
        while True:
            try:
                events = self._codec.receive_data(data)
            except RemoteProtocolError as exc:
                # The bad line is gone; lines after it are kept for the next round.
                self.garbage_lines += 1
                log.warning("dropped an unreadable line from signal-cli: %s", exc)
                for waiter in self._pending.values():
                    waiter.garbled = True
                data = b""
                continue
            break
        for event in events:
            if isinstance(event, Notification):
                self._on_notification(event)
            elif event.id is None:
                log.warning("signal-cli could not read a request: %s", event.message)
            else:
                found = self._pending.get(event.id)
                if found is None:
                    log.debug("answer to a forgotten request %r", event.id)
                    continue
                found.answer = event
                found.done.set()

    def notify(self, method: str, params: JsonValue) -> None:
        """Send a request without an id: the daemon runs it and answers nothing."""
        if self._closed:
            return
        self._lines.append(self._codec.send_notification(method, params))
        self._queued.append(None)
        wake = self._wake
        if wake is not None:
            self._wake = None
            wake.set()

    async def call(self, method: str, params: JsonValue, limit: float) -> Answer:
        if self._closed:
            raise RequestLost(
                f"lost the connection to signal-cli: {self.close_reason}", written=False
            )
        rid, line = self._codec.send_request(method, params)
        deadline = _now() + limit
        pending = self._pending
        waiter = pending[rid] = _Waiter(deadline, self._new_event())
        inbox = self._inbox
        if inbox is not None and inbox.room_waiters and len(pending) == 1:
            # A reader paused for a full inbox must read on to find this answer.
            inbox.nudge()
        try:
            wake = self._wake
            if wake is not None and self._send_nowait is not None and self._send_nowait(line):
                # The writer is idle and the transport takes the line at once: no task hop.
                waiter.written = True
            else:
                self._lines.append(line)
                self._queued.append(waiter)
                if wake is not None:
                    self._wake = None
                    wake.set()
            if deadline < self._watching_until:
                self._watching_until = -math.inf
                self._nudge.set()
            await waiter.done.wait()
            if waiter.error is not None:
                raise waiter.error
            if waiter.answer is not None:
                return waiter.answer
            if waiter.garbled:
                raise AnswerUnreadable(
                    f"signal-cli answered {method} with an unreadable line (the request may "
                    "have taken effect)"
                )
            since = self._writing_since
            written = waiter.written
            if since is not None and _now() - since >= limit:
                self._close("a write to the daemon timed out")
                await self._stream.aclose()
                raise RequestLost("a write to signal-cli timed out; reconnecting", written=written)
            raise RequestLost(
                f"signal-cli did not answer {method} within {limit:g}s", written=written
            )
        finally:
            pending.pop(rid, None)
            if not waiter.written:
                self._unqueue(waiter)

    def _unqueue(self, waiter: _Waiter) -> None:
        """Take back the line of a caller that gave up before it was written: sent
        later, a request reported as not sent could still take effect."""
        for index, queued in enumerate(self._queued):
            if queued is waiter:
                del self._queued[index], self._lines[index]
                return
