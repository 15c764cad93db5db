"""State and helpers shared by the halves of FakeAdapter."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import attrs

from .._address import Address
from .._capabilities import Feature
from .._events import Event
from .._exceptions import (
    ClosedError,
    NotFoundError,
    NotSupportedError,
    UnregisteredRecipientError,
)
from .._recipients import RecipientResult, SendStatus
from .._types import MessageRef
from ._state import NetworkState, _Account, _Room


class FakeBase:
    features: frozenset[Feature] = frozenset({"markdown", "mentions", "replies", "redelivery"})
    idempotent_sends = False
    max_message_bytes: int | None = None

    def __init__(self, network: NetworkState, account: _Account) -> None:
        self._net = network
        self._acc = account
        # Plain attributes, not properties: every send reads them several times.
        self.network: str = account.address.network
        self.account: Address = account.address
        self._running = False
        self._index: dict[int, int] = {}
        #: Signal person -> (their account, [(it, our address as they see it)]);
        #: accounts are never removed, so the look-up holds once made.
        self._people: dict[Address, tuple[Address, list[tuple[_Account, Address]]]] = {}
        #: Recipient -> its "delivered" result: a frozen value every receipt can share.
        self._delivered: dict[Address, RecipientResult] = {}
        #: The next inbox position this adapter hands to the client.
        self._cursor = 0

    def __repr__(self) -> str:
        return f"<FakeAdapter {self._acc.address}>"

    # -- helpers --------------------------------------------------------------

    def _check(self) -> None:
        if not self._running:
            raise ClosedError(f"{self!r} is not running: open it with a Client")

    def _own(self, address: Address) -> None:
        if address.network != self.network:
            raise NotSupportedError(self.network, f"addresses of {address.network}")

    def _room(self, address: Address) -> _Room:
        room = self._net.room(address)
        if self.account not in room.members:
            raise NotFoundError(f"{self.account} is not in {address}")
        return room

    def _peers(self, target: Address) -> tuple[Address, list[tuple[_Account, Address]]]:
        """(our view of the conversation, [(recipient, their view of it)])."""
        known = self._people.get(target)
        if known is not None:
            return known
        if target.is_person and self.network == "signal":
            peer = self._net.find_account(target)
            if peer is None:
                result = RecipientResult(recipient=target, status=SendStatus.UNREGISTERED)
                raise UnregisteredRecipientError(f"{target} is not registered", [result])
            self._acc.contacts.add(peer.address)
            peer.contacts.add(self.account)
            known = self._people[target] = (peer.address, [(peer, self.account)])
            return known
        if target.is_person:
            target = self._direct_room(target)
        room = self._room(self._net.resolve(target))
        members = [self._net.account(m) for m in room.members if m != self.account]
        return room.address, [(m, room.address) for m in members]

    def _direct_room(self, person: Address) -> Address:
        known = self._acc.direct_rooms.get(person)
        if known is not None:
            return known
        peer = self._net.find_account(person)
        if peer is None:
            raise NotFoundError(f"{person} has no account on {self.network}")
        room = self._net.create_room(
            self.network, creator=self.account, members=[person], encrypted=True, direct=True
        )
        self._acc.direct_rooms[person] = room
        peer.direct_rooms.setdefault(self.account, room)
        return room

    def _emit(
        self,
        recipients: Sequence[tuple[_Account, Address]],
        make: Callable[..., Event],
        **fields: Any,
    ) -> tuple[str, Any]:
        stamp, when = self._net.now()
        for acc, conversation in recipients:
            acc.post(
                make(
                    network=self.network,
                    account=acc.address,
                    conversation=conversation,
                    sender=self.account,
                    id=self._event_id(stamp),
                    timestamp=when,
                    raw={"fake": make.__name__},
                    **fields,
                )
            )
        return stamp, when

    def _event_id(self, stamp: str) -> str:
        return stamp if self.network == "signal" else f"${stamp}"

    def _retarget(self, ref: MessageRef, conversation: Address) -> MessageRef:
        return attrs.evolve(ref, conversation=conversation)
