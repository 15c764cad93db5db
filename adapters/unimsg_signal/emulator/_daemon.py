"""One emulated signal-cli process: its accounts, receive loop and clients.

The receive rules follow signal-cli's ``ManagerImpl``: an account receives
(takes messages off the server) while at least one *strong* receive handler
is registered; every handler then gets every envelope. Who registers handlers
depends on the receive mode, see :class:`ReceiveMode`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import StrEnum
from types import TracebackType
from typing import Any

import attrs

from ._network import Account, EmulatedNetwork

JsonObject = dict[str, Any]

VERSION = "0.14.6"


class ReceiveMode(StrEnum):
    """``--receive-mode`` of ``signal-cli daemon`` / ``jsonRpc``.

    * ``ON_START``: the daemon receives from start-up; with no client
      attached, envelopes go to the daemon's stdout and are lost for clients
      (kept in :attr:`Daemon.unclaimed` here).
    * ``ON_CONNECTION``: receiving runs while a socket client or an SSE
      client is attached; otherwise messages wait on the server.
    * ``MANUAL``: nothing is received until ``subscribeReceive``, an SSE
      client or a ``receive`` call; messages wait on the server meanwhile.
    """

    ON_START = "on-start"
    ON_CONNECTION = "on-connection"
    MANUAL = "manual"


@attrs.define(eq=False)
class Subscriber:
    """A receive handler. ``deliver`` must not block."""

    deliver: Callable[[JsonObject], None]
    strong: bool = True


class Daemon:
    """Emulated ``signal-cli [-a ACCOUNT] daemon`` serving accounts of a network.

    ``accounts`` are numbers, ACIs or :class:`Account` objects. With
    ``multi_account=False`` exactly one account is served (``-a``); with
    ``True`` all of them, and methods take an ``account`` param.
    ``stdout_handler`` models the daemon's own stdout printer (absent in
    ``jsonRpc`` mode). ``keepalive_interval`` is the SSE keep-alive period.

    Use as ``async with Daemon(...) as daemon:`` and attach transports with
    :func:`serve_tcp`, :func:`serve_unix`, :func:`serve_http` or
    :func:`serve_stream`.
    """

    def __init__(
        self,
        network: EmulatedNetwork,
        accounts: Sequence[str | Account],
        *,
        multi_account: bool = False,
        receive_mode: ReceiveMode | str = ReceiveMode.ON_START,
        stdout_handler: bool = True,
        keepalive_interval: float = 15.0,
        version: str = VERSION,
    ) -> None:
        self.network = network
        self.accounts = [network.account(a) for a in accounts]
        if not self.accounts:
            raise ValueError("a daemon needs at least one account")
        if not multi_account and len(self.accounts) != 1:
            raise ValueError("single-account mode serves exactly one account")
        self.multi_account = multi_account
        self.receive_mode = ReceiveMode(receive_mode)
        self.stdout_handler = stdout_handler
        self.keepalive_interval = keepalive_interval
        self.version = version
        self.unclaimed: list[JsonObject] = []
        self._handlers: dict[str, list[Subscriber]] = {a.aci: [] for a in self.accounts}
        self._next_subscription = 0
        self._closers: set[Callable[[], None]] = set()
        self._printers: list[Subscriber] = []
        self._started = False

    # -- lifecycle ----------------------------------------------------------------

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        self.network.drop_callbacks.append(self.drop_connections)
        if self.stdout_handler:
            strong = self.receive_mode is ReceiveMode.ON_START
            for account in self.accounts:
                printer = Subscriber(self._print, strong=strong)
                self._printers.append(printer)
                self.add_handler(account, printer)

    def close(self) -> None:
        self.drop_connections()
        for account in self.accounts:
            self._handlers[account.aci].clear()
            self._sync_attachment(account)
        if self.drop_connections in self.network.drop_callbacks:
            self.network.drop_callbacks.remove(self.drop_connections)
        self._started = False

    async def __aenter__(self) -> Daemon:
        self.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _print(self, payload: JsonObject) -> None:
        # The real daemon prints to stdout; clients never see these envelopes.
        self.unclaimed.append(payload)

    # -- accounts -------------------------------------------------------------------

    @property
    def account(self) -> Account:
        """The served account (single-account mode) or the first one."""
        return self.accounts[0]

    def lookup(self, ident: str) -> Account | None:
        """A served account by number or ACI, like ``MultiAccountManager.getManager``."""
        for account in self.accounts:
            if ident in (account.number, account.aci):
                return account
        return None

    # -- receiving ------------------------------------------------------------------

    def next_subscription_id(self) -> int:
        sid = self._next_subscription
        self._next_subscription += 1
        return sid

    def add_handler(self, account: Account, subscriber: Subscriber) -> None:
        self._handlers[account.aci].append(subscriber)
        self._sync_attachment(account)

    def remove_handler(self, account: Account, subscriber: Subscriber) -> None:
        handlers = self._handlers[account.aci]
        if subscriber in handlers:
            handlers.remove(subscriber)
        self._sync_attachment(account)

    def is_receiving(self, account: Account) -> bool:
        return any(s.strong for s in self._handlers[account.aci])

    def _sync_attachment(self, account: Account) -> None:
        attached = self.network.is_attached(account)
        if self.is_receiving(account) and not attached:
            self.network.attach(account, lambda payload: self._dispatch(account, payload))
        elif not self.is_receiving(account) and attached:
            self.network.detach(account)

    def _dispatch(self, account: Account, payload: JsonObject) -> None:
        for subscriber in list(self._handlers[account.aci]):
            subscriber.deliver(payload)

    # -- connections ----------------------------------------------------------------

    def register_closer(self, closer: Callable[[], None]) -> None:
        self._closers.add(closer)

    def unregister_closer(self, closer: Callable[[], None]) -> None:
        self._closers.discard(closer)

    def drop_connections(self) -> None:
        """Abort every client connection of this daemon."""
        for closer in list(self._closers):
            closer()
