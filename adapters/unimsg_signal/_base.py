"""State and helpers shared by the halves of SignalAdapter."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from unimsg import (
    Address,
    AddressKind,
    ClosedError,
    Feature,
    InvalidAddressError,
    NotFoundError,
    NotSupportedError,
)

from ._config import SignalConfig
from ._groups import GroupTracker
from ._jsonrpc import JsonValue
from ._link import Link


class RecentStamps:
    """The last few thousand timestamps this adapter sent, to drop their echoes."""

    def __init__(self, limit: int = 4096) -> None:
        self._limit = limit
        self._stamps: OrderedDict[int, None] = OrderedDict()

    def add(self, ms: int) -> None:
        self._stamps[ms] = None
        while len(self._stamps) > self._limit:
            self._stamps.popitem(last=False)

    def __contains__(self, ms: object) -> bool:
        return ms in self._stamps


class SignalBase:
    # No "redelivery": signal-cli acknowledges envelopes to the server before it
    # hands them out, so what a crash interrupts is not delivered again.
    features: frozenset[Feature] = frozenset({"markdown", "mentions", "replies"})
    #: signal-cli gives every send a fresh timestamp: a retried send is a second message.
    idempotent_sends = False
    max_message_bytes: int | None = None

    def __init__(self, config: SignalConfig) -> None:
        self.config = config
        self._account = Address.signal(config.account)
        self._link: Link | None = None
        self._running = False
        self._own_sent = RecentStamps()
        self._groups = GroupTracker(self._account)

    def __repr__(self) -> str:
        return f"<SignalAdapter {self.config.account} via {self.config.url}>"

    @property
    def network(self) -> str:
        return "signal"

    @property
    def account(self) -> Address:
        return self._account

    # -- helpers --------------------------------------------------------------------------

    def _check(self) -> Link:
        if not self._running or self._link is None:
            raise ClosedError(f"{self!r} is not running: open it with a Client")
        return self._link

    def _own(self, address: Address) -> Address:
        if address.network != "signal":
            raise NotSupportedError("signal", f"addresses of {address.network}")
        return address

    async def _call(
        self,
        method: str,
        params: dict[str, JsonValue] | None = None,
        *,
        about: Address | None = None,
        limit: float | None = None,
    ) -> Any:
        link = self._check()
        return await link.call(method, params, fallback=about or self._account, limit=limit)

    @staticmethod
    def _recipient(person: Address) -> str:
        """A person in signal-cli's ``recipient`` form."""
        if person.kind is AddressKind.USERNAME:
            return f"u:{person.id}"
        if person.kind is not AddressKind.USER:
            raise InvalidAddressError(f"{person} is not a Signal user")
        return person.id

    async def _status(self, person: Address) -> dict[str, Any] | None:
        """``getUserStatus`` of one number or username (``None``: no answer row)."""
        if person.kind is AddressKind.USERNAME:
            params: dict[str, JsonValue] = {"username": [person.id]}
        elif person.id.startswith("+"):
            params = {"recipient": [person.id]}
        else:
            return {"uuid": person.id, "isRegistered": True}
        rows = await self._call("getUserStatus", params, about=person)
        row = rows[0] if isinstance(rows, list) and rows else None
        return row if isinstance(row, dict) else None

    async def _resolve(self, person: Address) -> Address:
        """A username as the ACI it belongs to (methods that take no usernames need that)."""
        if person.kind is not AddressKind.USERNAME:
            return person
        row = await self._status(person)
        uuid = row.get("uuid") if row else None
        if not isinstance(uuid, str):
            raise NotFoundError(f"no Signal account has the username {person.id}")
        return Address.signal(uuid)
