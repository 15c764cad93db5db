"""The adapter's line to its daemon: connect, check, subscribe, reconnect, call.

`Link.run` keeps one session up. A session is up once the daemon answers
and serves our account (``listAccounts`` on a multi-account daemon) and, on
line transports, once ``subscribeReceive`` answered; over HTTP the event
stream opens right after (signal-cli 0.13 sends its headers only with the
first keep-alive, 15 s later). When it drops, the link reports RECONNECTING,
retries with exponential back-off and, once up again, CONNECTED. Failures
that retrying cannot fix — the first connection, an account the daemon does
not serve, a daemon lacking a method — end `run` with the error.

What the daemon pushes goes through a bounded `Inbox`: a slow application
slows reading instead of growing memory.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Any

import anyio
import httpx

from unimsg import (
    Address,
    ConnectError,
    ConnectionState,
    NotFoundError,
    OutcomeUnknownError,
    RemoteProtocolError,
    UsageError,
)

from ._config import SignalConfig
from ._errors import METHOD_NOT_FOUND, SENDING, map_error, not_served
from ._http_session import HttpSession
from ._inbox import Inbox
from ._jsonrpc import ErrorResponse, JsonValue, Notification
from ._rpc import AnswerUnreadable, LineSession, RequestLost
from ._taskgroups import unwrapped
from ._transports import HTTP_LANES, ProcessStream, http_client, http_lane, open_line_stream

__all__ = ["Link"]

log = logging.getLogger("unimsg.signal")
_DAEMON_METHODS = frozenset({"version", "listAccounts"})
_RETRYABLE = (ConnectError, RemoteProtocolError, OSError, httpx.HTTPError)


class _Seen:
    """Envelopes delivered on this connection, to drop the second copy when the
    daemon's automatic subscription and ours both deliver."""

    def __init__(self, limit: int = 2048) -> None:
        self._limit = limit
        self._keys: OrderedDict[str, None] = OrderedDict()

    def first(self, payload: Any) -> bool:
        key = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        if key in self._keys:
            return False
        self._keys[key] = None
        if len(self._keys) > self._limit:
            self._keys.popitem(last=False)
        return True


class Link:
    def __init__(
        self,
        config: SignalConfig,
        inbox: Inbox,
        on_state: Callable[[ConnectionState, str | None], None],
    ) -> None:
        self.config = config
        self.inbox = inbox
        self._on_state = on_state
        self._session: LineSession | HttpSession | None = None
        self._changed = anyio.Event()
        self._up_once = False
        self._up_since = 0.0
        # Envelopes that arrive before the session is declared up (the daemon hands out
        # what waited on the server as soon as we subscribe) follow the CONNECTED report.
        self._held: list[Any] | None = None
        self._task_status: Any = None
        # Set per line session once the daemon pushes on its automatic subscription.
        self._seen: _Seen | None = None
        self._subscription: int | None = None
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
                # Sessions run task groups: their errors must arrive here unwrapped.
                with unwrapped():
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
        """The session serves us: release waiting calls, report it."""
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
            self.inbox.put(payload)

    def _set_session(self, session: LineSession | HttpSession | None) -> None:
        self._session = session
        self._changed.set()
        self._changed = anyio.Event()

    async def _line_session(self) -> None:
        config = self.config
        self._seen, self._subscription = None, None
        async with open_line_stream(config) as stream, anyio.create_task_group() as tg:
            session = LineSession(stream, self._notification, self.inbox)
            if isinstance(stream, ProcessStream):
                tg.start_soon(stream.pump_stderr)
            tg.start_soon(session.serve)
            try:
                answer = await session.call("version", None, config.connect_timeout)
                self._version(answer)
                await self._check_account(session)
                params: JsonValue = {"account": config.account} if config.multi_account else None
                answer = await session.call("subscribeReceive", params, config.connect_timeout)
            except ConnectError:
                self._not_registered(session.close_reason)
                raise
            if isinstance(answer, ErrorResponse):
                raise self._error("subscribeReceive", answer)
            if isinstance(answer.result, int):
                self._subscription = answer.result
            self._set_session(session)
            if self._seen is not None:
                # The daemon pushed on its automatic subscription already: ours is a duplicate.
                self._unsubscribe()
            self._up()
            await session.closed.wait()
            tg.cancel_scope.cancel()
        self._not_registered(session.close_reason)
        raise ConnectError(session.close_reason)

    def _not_registered(self, reason: str) -> None:
        """A ``jsonRpc`` child that exits for an account it does not have."""
        account = self.config.account
        if f"{account} is not registered" in reason:
            said = reason.partition("stderr: ")[2] or reason
            raise NotFoundError(not_served(account, f"signal-cli exited: {said}"))

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
            await self._check_account(session)
            self._set_session(session)
            self._up()
            await session.events(self._payload, config.keepalive_timeout, self.inbox)

    async def _check_account(self, session: LineSession | HttpSession) -> None:
        """Refuse a multi-account daemon that does not serve our account.

        Without ``account`` a multi-account daemon with one account acts as that
        account, whichever it is; a single-account daemon lacks ``listAccounts``.
        """
        config = self.config
        answer = await session.call("listAccounts", None, config.connect_timeout)
        if isinstance(answer, ErrorResponse):
            if answer.code == METHOD_NOT_FOUND:
                return
            raise self._error("listAccounts", answer)
        rows = answer.result if isinstance(answer.result, list) else []
        served = [r.get("number") for r in rows if isinstance(r, dict)]
        if config.account not in served:
            listed = ", ".join(str(n) for n in served) or "no account"
            raise NotFoundError(not_served(config.account, f"it serves {listed}"))
        if not config.multi_account and len(served) > 1:
            raise UsageError(
                f"the signal-cli daemon at {config.url} serves {len(served)} accounts "
                "(started without -a): set multi_account = true"
            )

    def _error(self, method: str, answer: ErrorResponse) -> Exception:
        account = self.config.account
        return map_error(method, answer, fallback=Address.signal(account), account=account)

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
        if "subscription" in params:
            payload = params.get("result")
            if self._seen is not None and not self._seen.first(payload):
                return
            self._payload(payload)
            return
        # The daemon's automatic subscription (receive mode on-start or on-connection):
        # it pushes what waited on the server as soon as we connect, so take it. Ours
        # would deliver every envelope again; it is dropped once it has an id.
        if self._seen is None:
            self._seen = _Seen()
            self._unsubscribe()
            if not self._warned_auto:
                self._warned_auto = True
                log.warning(
                    "signal-cli is not running with --receive-mode=manual: in on-start mode "
                    "messages that arrive while unimsg is disconnected are lost "
                    "(see docs/signal.md)"
                )
        if self._seen.first(params):
            self._payload(params)

    def _unsubscribe(self) -> None:
        """Drop our subscription, once it has an id (a notification: nothing waits)."""
        session = self._session
        if not isinstance(session, LineSession) or self._subscription is None:
            return
        params: dict[str, JsonValue] = {"subscription": self._subscription}
        if self.config.multi_account:
            params["account"] = self.config.account
        session.notify("unsubscribeReceive", params)
        self._subscription = None

    def _payload(self, payload: Any) -> None:
        if isinstance(payload, dict):
            account = payload.get("account")
            if isinstance(account, str) and account != self.config.account:
                return  # another account of a multi-account daemon
        if self._held is not None:
            self._held.append(payload)
        else:
            self.inbox.put(payload)

    # -- calls -----------------------------------------------------------------------------

    async def call(
        self,
        method: str,
        params: dict[str, JsonValue] | None = None,
        *,
        fallback: Address,
        limit: float | None = None,
    ) -> JsonValue:
        """The result of ``method``; daemon errors raise the mapped unimsg exception.

        A sending method whose answer was lost after the request went out raises
        `OutcomeUnknownError`: signal-cli has no idempotency keys, so only the
        application can decide whether to send again.
        """
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
        try:
            answer = await session.call(method, params, limit)
        except (RequestLost, AnswerUnreadable) as exc:
            if method in SENDING and getattr(exc, "written", True):
                raise OutcomeUnknownError(
                    f"the {method} request reached signal-cli but no readable answer came "
                    f"back ({exc}): it may have been sent; check before sending it again"
                ) from None
            raise
        if isinstance(answer, ErrorResponse):
            raise map_error(method, answer, fallback=fallback, account=config.account)
        return answer.result
