"""JSON-RPC to ``signal-cli daemon --http``: a POST per request, Server-Sent Events for events."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

import anyio
import httpx

from unimsg import AuthenticationError, ConnectError, NotFoundError, RemoteProtocolError

from ._errors import not_served
from ._http_lane import LANE_ERRORS, HttpAnswer, HttpLane
from ._inbox import Inbox
from ._jsonrpc import (
    ErrorResponse,
    JsonRpcConnection,
    JsonValue,
    Response,
    decode_http_body,
)
from ._rpc import Answer, AnswerUnreadable, RequestLost
from ._sse import SseParser

__all__ = ["HttpSession"]

log = logging.getLogger("unimsg.signal")


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
