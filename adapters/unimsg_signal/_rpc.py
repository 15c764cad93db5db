"""One JSON-RPC connection to signal-cli: requests matched by id, notifications out.

`LineSession` multiplexes any number of requests over one line-framed stream
(signal-cli answers in completion order, interleaved with notifications).
`HttpSession` posts each request and reads the Server-Sent Events stream.
Both return the daemon's answer (`Response` or `ErrorResponse`); turning
errors into exceptions is the caller's job, done in one place (``_errors``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

import anyio
import anyio.abc
import attrs
import httpx

from unimsg import AuthenticationError, ConnectError, NotFoundError, RemoteProtocolError

from ._errors import not_served
from ._http_lane import LANE_ERRORS, HttpAnswer, HttpLane
from ._inbox import Inbox
from ._jsonrpc import (
    ErrorResponse,
    JsonRpcConnection,
    JsonValue,
    Notification,
    Response,
    SseParser,
    decode_http_body,
)
from ._transports import STREAM_ERRORS, ProcessStream

__all__ = ["Answer", "AnswerUnreadable", "HttpSession", "LineSession", "RequestLost"]

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


@attrs.define(eq=False)
class _Waiter:
    deadline: float
    #: The request's line was handed to the stream (it may have reached the daemon).
    written: bool = False
    done: anyio.Event = attrs.Factory(anyio.Event)
    answer: Answer | None = None
    error: Exception | None = None
    #: An unreadable line arrived while this request waited: maybe its answer.
    garbled: bool = False


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
        self.close_reason = "the connection closed"
        self.garbage_lines = 0

    async def serve(self) -> None:
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._write_loop)
                tg.start_soon(self._watchdog)
                inbox, pending = self._inbox, self._pending
                while True:
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
            self._writing_since = anyio.current_time()
            try:
                await self._stream.send(data)
            except STREAM_ERRORS as exc:
                self._close(f"cannot write to the daemon ({type(exc).__name__})")
                return
            finally:
                self._writing_since = None

    async def _watchdog(self) -> None:
        while True:
            now = anyio.current_time()
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
        if self.closed.is_set():
            return
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
        if self.closed.is_set():
            return
        self._lines.append(self._codec.send_notification(method, params))
        self._queued.append(None)
        wake = self._wake
        if wake is not None:
            self._wake = None
            wake.set()

    async def call(self, method: str, params: JsonValue, limit: float) -> Answer:
        if self.closed.is_set():
            raise RequestLost(
                f"lost the connection to signal-cli: {self.close_reason}", written=False
            )
        rid, line = self._codec.send_request(method, params)
        deadline = anyio.current_time() + limit
        waiter = self._pending[rid] = _Waiter(deadline)
        if self._inbox is not None and len(self._pending) == 1:
            # A reader paused for a full inbox must read on to find this answer.
            self._inbox.nudge()
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
            if since is not None and anyio.current_time() - since >= limit:
                self._close("a write to the daemon timed out")
                await self._stream.aclose()
                raise RequestLost("a write to signal-cli timed out; reconnecting", written=written)
            raise RequestLost(
                f"signal-cli did not answer {method} within {limit:g}s", written=written
            )
        finally:
            self._pending.pop(rid, None)
            if not waiter.written:
                self._unqueue(waiter)

    def _unqueue(self, waiter: _Waiter) -> None:
        """Take back the line of a caller that gave up before it was written: sent
        later, a request reported as not sent could still take effect."""
        for index, queued in enumerate(self._queued):
            if queued is waiter:
                del self._queued[index], self._lines[index]
                return


class HttpSession:
    """``daemon --http``: POST /api/v1/rpc per request, GET /api/v1/events for events."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        events_account: str | None = None,
        events_client: httpx.AsyncClient | None = None,
        lanes: Sequence[HttpLane] = (),
    ) -> None:
        self._client = client
        self._events_client = events_client or client
        # Concurrent requests take a lane each (a connection of its own).
        self._free = list(lanes)
        self._slots = anyio.Semaphore(len(self._free), fast_acquire=True)
        self._codec = JsonRpcConnection()
        self._events_account = events_account

    async def check(self) -> None:
        response = await self._client.get("/api/v1/check")
        _check_status(response, "/api/v1/check")

    async def call(self, method: str, params: JsonValue, limit: float) -> Answer:
        rid, body = self._codec.send_request(method, params)
        slots = self._slots
        if slots.value:
            slots.acquire_nowait()
        else:
            # Waiting for a free client counts against the request's limit, as
            # waiting for a connection did inside httpx's pool.
            with anyio.move_on_after(limit) as waiting:
                await slots.acquire()
            if waiting.cancelled_caught:
                raise RequestLost(
                    f"signal-cli did not answer {method} within {limit:g}s", written=False
                )
        lane = self._free.pop()
        try:
            response = await lane.post(body, limit)
        except TimeoutError as exc:
            raise RequestLost(
                f"signal-cli did not answer {method} within {limit:g}s", written=lane.sent
            ) from exc
        except LANE_ERRORS as exc:
            raise RequestLost(
                f"cannot reach signal-cli over HTTP: {exc!r}", written=lane.sent
            ) from exc
        finally:
            self._free.append(lane)
            slots.release()
        _check_status(response, method)
        try:
            events = decode_http_body(response.content)
        except RemoteProtocolError as exc:
            raise AnswerUnreadable(f"signal-cli's HTTP answer to {method}: {exc}") from None
        for event in events:
            if isinstance(event, (Response, ErrorResponse)) and event.id in (rid, None):
                return event
        raise AnswerUnreadable(f"signal-cli's HTTP answer to {method} carries no response")

    async def events(
        self,
        on_payload: Callable[[Any], None],
        keepalive_timeout: float,
        inbox: Inbox | None = None,
    ) -> None:
        """Read the event stream until it fails; returns never, raises `ConnectError`.

        signal-cli 0.13 sends the stream's headers only with its first keep-alive,
        so nothing waits for them: the caller reports the session up before this.
        """
        params = {"account": self._events_account} if self._events_account else None
        no_read_limit = httpx.Timeout(None, connect=10.0)
        try:
            # Silence, headers included, longer than keepalive_timeout is a dead stream.
            with anyio.CancelScope() as watchdog:
                watchdog.deadline = anyio.current_time() + keepalive_timeout
                async with self._events_client.stream(
                    "GET", "/api/v1/events", params=params, timeout=no_read_limit
                ) as response:
                    if response.status_code == 400 and self._events_account:
                        raise NotFoundError(not_served(self._events_account, "HTTP 400"))
                    _check_status(response, "/api/v1/events")
                    parser = SseParser()
                    async for chunk in response.aiter_raw():
                        for event in parser.feed(chunk):
                            if event.event != "receive":
                                continue
                            try:
                                on_payload(event.json())
                            except RemoteProtocolError as exc:
                                log.warning("dropped an unreadable event from signal-cli: %s", exc)
                        if inbox is not None and len(inbox) >= inbox.limit:
                            # A slow application: stop reading, and stop the watchdog too.
                            watchdog.deadline = math.inf
                            await inbox.wait_for_room()
                        # Any byte (event or ':' keep-alive) proves the stream is alive.
                        watchdog.deadline = anyio.current_time() + keepalive_timeout
            if watchdog.cancelled_caught:
                raise ConnectError(
                    f"no keep-alive from signal-cli's event stream for {keepalive_timeout:g}s"
                )
        except httpx.TransportError as exc:
            raise ConnectError(f"signal-cli's event stream failed: {exc}") from exc
        raise ConnectError("signal-cli closed the event stream")


def _check_status(response: httpx.Response | HttpAnswer, what: str) -> None:
    status = response.status_code
    if status in (200, 201):
        return
    if status in (401, 403, 407):
        raise AuthenticationError(
            f"the HTTP endpoint refused the credentials ({status}); check http_token or "
            "http_username/http_password"
        )
    if status == 421:
        raise ConnectError(
            "signal-cli rejected the Host header (421): address the daemon as localhost or "
            "127.0.0.1, or bind it to 0.0.0.0"
        )
    if status in (404, 405, 415):
        raise RemoteProtocolError(f"{what}: HTTP {status}; is this a signal-cli daemon --http?")
    raise ConnectError(f"{what}: HTTP {status} from signal-cli")
