"""The adapter's line to its daemon: connect, subscribe, reconnect, call.

`Link.run` keeps one session up. A session is ready once the daemon receives
for us: after ``subscribeReceive`` on line transports, after the event
stream's headers over HTTP. When it drops, the link reports RECONNECTING,
retries with exponential back-off and, once up again, CONNECTED. Failures
that retrying cannot fix — the first connection, an account the daemon does
not serve, a daemon lacking a method — end `run` with the error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Any

import anyio
import httpx

from unimsg import Address, ConnectError, ConnectionState, RemoteProtocolError

from ._config import SignalConfig
from ._errors import map_error
from ._jsonrpc import ErrorResponse, JsonValue, Notification
from ._rpc import HttpSession, LineSession
from ._transports import HTTP_LANES, http_client, http_lane, open_line_stream

__all__ = ["Link"]

log = logging.getLogger("unimsg.signal")
_DAEMON_METHODS = frozenset({"version", "listAccounts"})
_RETRYABLE = (ConnectError, RemoteProtocolError, OSError, httpx.HTTPError)


class Link:
    def __init__(
        self,
        config: SignalConfig,
        on_payload: Callable[[Any], None],
        on_state: Callable[[ConnectionState, str | None], None],
    ) -> None:
        self.config = config
        self._on_payload = on_payload
        self._on_state = on_state
        self._session: LineSession | HttpSession | None = None
        self._changed = anyio.Event()
        self._up_once = False
        self._up_since = 0.0
        # Envelopes that arrive before the session is declared up (the daemon hands out
        # what waited on the server as soon as we subscribe) follow the CONNECTED report.
        self._held: list[Any] | None = None
        self._task_status: Any = None
        self._warned_auto = False
        self.daemon_version: str | None = None
        self.connections = 0

    # -- lifecycle -------------------------------------------------------------------

    async def run(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        config = self.config
        self._task_status = task_status
        down_since: float | None = None
        backoff = config.min_backoff
        while True:
            if self._held is None:
                self._held = []
            try:
                if config.url.kind == "http":
                    await self._http_session()
                else:
                    await self._line_session()
                reason = "the connection closed"
            except _RETRYABLE as exc:
                if not self._up_once:
                    raise ConnectError(f"cannot start the Signal adapter: {exc}") from exc
                reason = str(exc)
            finally:
                self._set_session(None)
            now = anyio.current_time()
            if down_since is None or self._up_since > down_since:
                down_since, backoff = now, config.min_backoff
                log.warning("lost signal-cli at %s: %s; reconnecting", config.url, reason)
                self._on_state(ConnectionState.RECONNECTING, reason)
            elif config.give_up_after is not None and now - down_since > config.give_up_after:
                raise ConnectError(
                    f"signal-cli at {config.url} unreachable for {now - down_since:.0f}s: {reason}"
                )
            await anyio.sleep(backoff)
            backoff = min(backoff * 2, config.max_backoff)

    def _up(self) -> None:
        """The session receives for us: release waiting calls, report it."""
        self.connections += 1
        self._up_since = anyio.current_time()
        if not self._up_once:
            self._up_once = True
            self._task_status.started()
        else:
            log.info("reconnected to signal-cli at %s", self.config.url)
            self._on_state(ConnectionState.CONNECTED, None)
        held, self._held = self._held or [], None
        for payload in held:
            self._on_payload(payload)

    def _set_session(self, session: LineSession | HttpSession | None) -> None:
        self._session = session
        self._changed.set()
        self._changed = anyio.Event()

    async def _line_session(self) -> None:
        config = self.config
        async with open_line_stream(config) as stream, anyio.create_task_group() as tg:
            session = LineSession(stream, self._notification)
            tg.start_soon(session.serve)
            answer = await session.call("version", None, config.connect_timeout)
            self._version(answer)
            params: JsonValue = {"account": config.account} if config.multi_account else None
            answer = await session.call("subscribeReceive", params, config.connect_timeout)
            if isinstance(answer, ErrorResponse):
                raise map_error(
                    "subscribeReceive",
                    answer,
                    fallback=Address.signal(config.account),
                    account=config.account,
                )
            self._set_session(session)
            self._up()
            await session.closed.wait()
            tg.cancel_scope.cancel()
        raise ConnectError(session.close_reason)

    async def _http_session(self) -> None:
        config = self.config
        async with AsyncExitStack() as stack:
            # The event stream holds its connection for good: it gets a client of its own.
            stream = await stack.enter_async_context(http_client(config))
            lanes = [http_lane(config) for _ in range(HTTP_LANES)]
            for lane in lanes:
                stack.push_async_callback(lane.aclose)
            session = HttpSession(
                stream,
                events_account=config.account if config.multi_account else None,
                lanes=lanes,
            )
            await session.check()
            self._version(await session.call("version", None, config.connect_timeout))

            def opened() -> None:
                self._set_session(session)
                self._up()

            await session.events(self._payload, opened, config.keepalive_timeout)

    def _version(self, answer: Any) -> None:
        result = getattr(answer, "result", None)
        if isinstance(answer, ErrorResponse) or not isinstance(result, dict):
            raise RemoteProtocolError(f"{self.config.url} does not answer like signal-cli")
        version = result.get("version")
        self.daemon_version = version if isinstance(version, str) else None
        log.debug("connected to signal-cli %s at %s", self.daemon_version, self.config.url)

    # -- incoming --------------------------------------------------------------------------

    def _notification(self, note: Notification) -> None:
        if note.method != "receive" or not isinstance(note.params, dict):
            return
        params = note.params
        if "subscription" not in params:
            # The automatic subscription of a daemon not in manual mode: ours delivers
            # the same envelopes, wrapped. Taking both would duplicate everything.
            if not self._warned_auto:
                self._warned_auto = True
                log.warning(
                    "signal-cli is not running with --receive-mode=manual: messages that "
                    "arrive while unimsg is disconnected are lost (see docs/signal.md)"
                )
            return
        self._payload(params.get("result"))

    def _payload(self, payload: Any) -> None:
        if isinstance(payload, dict):
            account = payload.get("account")
            if isinstance(account, str) and account != self.config.account:
                return  # another account of a multi-account daemon
        if self._held is not None:
            self._held.append(payload)
        else:
            self._on_payload(payload)

    # -- calls -----------------------------------------------------------------------------

    async def call(
        self,
        method: str,
        params: dict[str, JsonValue] | None = None,
        *,
        fallback: Address,
        limit: float | None = None,
    ) -> JsonValue:
        """The result of ``method``; daemon errors raise the mapped unimsg exception."""
        config = self.config
        limit = config.request_timeout if limit is None else limit
        session = self._session
        if session is None:
            # Only a call made while reconnecting pays for a second timeout scope.
            with anyio.move_on_after(limit):
                while self._session is None:
                    await self._changed.wait()
            session = self._session
        if session is None:
            raise ConnectError(f"not connected to signal-cli at {config.url} for {limit:g}s")
        if config.multi_account and method not in _DAEMON_METHODS:
            params = {**(params or {}), "account": config.account}
        answer = await session.call(method, params, limit)
        if isinstance(answer, ErrorResponse):
            raise map_error(method, answer, fallback=fallback, account=config.account)
        return answer.result
