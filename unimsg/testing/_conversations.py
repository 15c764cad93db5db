"""The conversation half of FakeAdapter: listing, creating, joining, encryption state."""

from __future__ import annotations

from collections.abc import Sequence

from .._address import Address
from .._events import Membership, MembershipChanged
from .._exceptions import NotFoundError, PermissionDeniedError
from .._types import Conversation, EncryptionState, UserInfo
from ._base import FakeBase
from ._state import MEGOLM, _Account, _Room


class FakeConversations(FakeBase):
    def _view(self, room: _Room) -> Conversation:
        return Conversation(
            address=room.address,
            name=room.name,
            direct=room.direct,
            members=tuple(room.members),
            encrypted=room.encrypted,
            topic=room.topic,
            disappearing=room.disappearing,
            invited=self.account in room.invited,
        )

    def _direct(self, person: Address) -> Conversation:
        return Conversation(
            address=person,
            name=self._net.account(person).display_name,
            direct=True,
            members=(self.account, person),
            encrypted=True,
            disappearing=self._net.timers.get(frozenset((self.account, person))),
        )

    async def conversations(self) -> Sequence[Conversation]:
        self._check()
        found = [self._view(r) for r in self._net.rooms_of(self.account)]
        if self.network == "signal":
            found.extend(self._direct(p) for p in sorted(self._acc.contacts))
        return found

    async def conversation(self, address: Address) -> Conversation:
        self._check()
        self._own(address)
        if address.is_person and self.network == "signal":
            peer = self._net.find_account(address)
            if peer is None:
                raise NotFoundError(f"{address} is not registered")
            return self._direct(peer.address)
        if address.is_person:
            room = self._acc.direct_rooms.get(address)
            if room is None:
                raise NotFoundError(f"no direct conversation with {address} yet")
            address = room
        room_ = self._net.room(address)
        if self.account not in room_.members and self.account not in room_.invited:
            raise NotFoundError(f"{self.account} is not in {address}")
        return self._view(room_)

    async def create_conversation(
        self,
        *,
        name: str | None,
        members: Sequence[Address],
        encrypted: bool,
        direct: bool,
    ) -> Conversation:
        self._check()
        for member in members:
            self._own(member)
            if self._net.find_account(member) is None:
                raise NotFoundError(f"{member} has no account on {self.network}")
        address = self._net.create_room(
            self.network, creator=self.account, name=name, encrypted=encrypted, direct=direct
        )
        room = self._net.room(address)
        for member in members:
            self._add(room, self._net.account(member))
        if direct and len(members) == 1:
            self._acc.direct_rooms.setdefault(members[0], address)
        return self._view(room)

    def _add(self, room: _Room, acc: _Account) -> None:
        """Signal adds members directly; Matrix invites, and the invitee's policy decides."""
        joins = (
            self.network == "signal"
            or acc.invites == "always"
            or (isinstance(acc.invites, frozenset) and self.account in acc.invites)
        )
        if not joins:
            room.invited.append(acc.address)
            # The members see the invitation, and so does the invitee.
            seen_by = [*self._members(room), (acc, room.address)]
            self._emit(
                seen_by, MembershipChanged, member=acc.address, membership=Membership.INVITED
            )
            return
        room.members.append(acc.address)
        # Everyone but the new member sees the join, the inviter included.
        others = [(self._net.account(m), room.address) for m in room.members if m != acc.address]
        self._emit(others, MembershipChanged, member=acc.address, membership=Membership.JOINED)

    def _members(self, room: _Room) -> list[tuple[_Account, Address]]:
        return [(self._net.account(m), room.address) for m in room.members if m != self.account]

    async def join(self, address: Address) -> Conversation:
        self._check()
        self._own(address)
        room = self._net.room(self._net.resolve(address))
        if self.account in room.members:
            return self._view(room)
        if room.direct and self.account not in room.invited:
            raise PermissionDeniedError(f"{address} is private: {self.account} is not invited")
        if self.account in room.invited:
            room.invited.remove(self.account)
        room.members.append(self.account)
        self._emit(
            self._members(room),
            MembershipChanged,
            member=self.account,
            membership=Membership.JOINED,
        )
        return self._view(room)

    async def leave(self, address: Address) -> None:
        self._check()
        self._own(address)
        room = self._room(self._net.resolve(address))
        room.members.remove(self.account)
        self._emit(
            self._members(room), MembershipChanged, member=self.account, membership=Membership.LEFT
        )

    async def invite(self, conversation: Address, user: Address) -> None:
        self._check()
        self._own(user)
        room = self._room(self._net.resolve(conversation))
        peer = self._net.find_account(user)
        if peer is None:
            raise NotFoundError(f"{user} has no account on {self.network}")
        if peer.address not in room.members:
            self._add(room, peer)

    async def find_users(self, query: str) -> Sequence[UserInfo]:
        self._check()
        needle = query.casefold()
        return [
            UserInfo(address=a.address, display_name=a.display_name, registered=True)
            for a in self._net.accounts(self.network)
            if needle in a.address.id.casefold()
            or needle in (a.display_name or "").casefold()
            or needle in (a.username or "").casefold()
        ]

    def _encrypted(self, address: Address) -> bool:
        """``encryption_state(address).encrypted`` without building the state: sends ask it."""
        if self.network == "signal":
            return True
        room_id = self._acc.direct_rooms.get(address) if address.is_person else address
        return room_id is None or self._room(self._net.resolve(room_id)).encrypted

    async def encryption_state(self, address: Address) -> EncryptionState:
        self._check()
        self._own(address)
        acc = self._acc
        if self.network == "signal":
            peers = [address] if address.is_person else self._room(address).members
        else:
            room_id = acc.direct_rooms.get(address) if address.is_person else address
            if room_id is None:
                # A direct room does not exist yet; it will be created encrypted.
                return EncryptionState(encrypted=True, scheme=MEGOLM, can_decrypt=True)
            room = self._room(self._net.resolve(room_id))
            if not room.encrypted:
                return EncryptionState(encrypted=False, can_decrypt=True)
            peers = room.members
        others = [p for p in peers if p != self.account]
        return EncryptionState(
            encrypted=True,
            scheme="signal" if self.network == "signal" else MEGOLM,
            can_decrypt=True,
            unverified=[p for p in others if p not in acc.verified],
            changed=[p for p in others if p in acc.changed],
        )

    async def trust(self, user: Address, fingerprint: str | None = None, /) -> None:
        self._check()
        self._own(user)
        self._net.verify(self.account, user)
