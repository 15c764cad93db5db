"""Groups and contacts as unimsg conversations, and group changes as events.

A group-update message says only that a group changed. What changed comes
from comparing ``listGroups`` before and after: `GroupTracker` keeps the last
state of each group and turns the difference into MembershipChanged and
ConversationUpdated events.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import attrs

from unimsg import (
    Address,
    Conversation,
    ConversationUpdated,
    Event,
    Membership,
    MembershipChanged,
)

from ._convert import group_address, person_address

__all__ = [
    "GroupState",
    "GroupTracker",
    "contact_conversation",
    "contact_name",
    "group_conversation",
]


def _people(items: Any) -> frozenset[Address]:
    found: set[Address] = set()
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict):
            person = person_address(item.get("number"), item.get("uuid"))
        else:
            person = person_address(item)
        if person is not None:
            found.add(person)
    return frozenset(found)


def _ttl(seconds: Any) -> timedelta | None:
    if isinstance(seconds, int) and not isinstance(seconds, bool) and seconds > 0:
        return timedelta(seconds=seconds)
    return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


@attrs.frozen
class GroupState:
    address: Address
    name: str | None
    topic: str | None
    members: frozenset[Address]
    invited: frozenset[Address]
    expiration: int

    @classmethod
    def from_json(cls, group: Any) -> GroupState | None:
        if not isinstance(group, dict):
            return None
        address = group_address(group.get("id"))
        if address is None:
            return None
        expiration = group.get("messageExpirationTime")
        return cls(
            address=address,
            name=_text(group.get("name")),
            topic=_text(group.get("description")),
            members=_people(group.get("members")),
            invited=_people(group.get("pendingMembers")),
            expiration=expiration if isinstance(expiration, int) else 0,
        )

    def conversation(self, me: Address) -> Conversation:
        return Conversation(
            address=self.address,
            name=self.name,
            direct=False,
            members=tuple(sorted(self.members)),
            encrypted=True,
            topic=self.topic,
            disappearing=_ttl(self.expiration),
            invited=me in self.invited and me not in self.members,
        )


def group_conversation(group: Any, me: Address) -> Conversation | None:
    state = GroupState.from_json(group)
    return None if state is None else state.conversation(me)


def contact_name(contact: dict[str, Any]) -> str | None:
    """The name the account gave the contact, else the contact's profile name."""
    profile = contact.get("profile")
    names = (
        (profile.get("givenName"), profile.get("familyName")) if isinstance(profile, dict) else ()
    )
    given = " ".join(p for p in names if isinstance(p, str) and p)
    return _text(contact.get("nickName")) or _text(contact.get("name")) or _text(given)


def contact_conversation(contact: Any, me: Address) -> Conversation | None:
    if not isinstance(contact, dict):
        return None
    person = person_address(contact.get("number"), contact.get("uuid"))
    if person is None or person == me:
        return None
    return Conversation(
        address=person,
        name=contact_name(contact),
        direct=True,
        members=(me, person),
        encrypted=True,
        disappearing=_ttl(contact.get("messageExpirationTime")),
    )


class GroupTracker:
    """The last known state of each group this account is in or invited to."""

    def __init__(self, me: Address) -> None:
        self.me = me
        self._states: dict[Address, GroupState] = {}

    def load(self, groups: Iterable[Any]) -> None:
        for group in groups:
            state = GroupState.from_json(group)
            if state is not None:
                self._states[state.address] = state

    def get(self, address: Address) -> GroupState | None:
        return self._states.get(address)

    def remember(self, group: Any) -> GroupState | None:
        state = GroupState.from_json(group)
        if state is not None:
            self._states[state.address] = state
        return state

    def changes(self, update: ConversationUpdated, group: Any) -> list[Event]:
        """Events for ``update`` given the group's fresh ``listGroups`` entry (or None)."""
        address = update.conversation
        old = self._states.get(address)
        new = GroupState.from_json(group)
        if new is None:
            self._states.pop(address, None)
            if old is not None and self.me in old.members:
                return [self._member(update, self.me, self._gone(update))]
            return [update]
        self._states[address] = new
        events: list[Event] = []
        before = old.members if old is not None else frozenset()
        invited_before = old.invited if old is not None else frozenset()
        for person in sorted(new.members - before):
            if old is not None or person == self.me:
                events.append(self._member(update, person, Membership.JOINED))
        for person in sorted(new.invited - invited_before - new.members):
            if old is not None or person == self.me:
                events.append(self._member(update, person, Membership.INVITED))
        for person in sorted(before - new.members):
            kind = Membership.LEFT if person == update.sender else Membership.KICKED
            events.append(self._member(update, person, kind))
        if old is None or (old.name, old.topic) != (new.name, new.topic):
            events.append(attrs.evolve(update, name=new.name, topic=new.topic))
        if old is not None and old.expiration != new.expiration:
            events.append(
                attrs.evolve(
                    update,
                    id=f"timer-{update.id.removeprefix('group-')}",
                    name=None,
                    disappearing=_ttl(new.expiration),
                    disappearing_changed=True,
                )
            )
        return events

    def _gone(self, update: ConversationUpdated) -> Membership:
        return Membership.LEFT if update.sender == self.me else Membership.KICKED

    def _member(
        self, update: ConversationUpdated, person: Address, kind: Membership
    ) -> MembershipChanged:
        return MembershipChanged(
            network=update.network,
            account=update.account,
            conversation=update.conversation,
            sender=update.sender,
            id=f"member-{update.id.removeprefix('group-')}-{person.id}",
            timestamp=update.timestamp,
            raw=update.raw,
            member=person,
            membership=kind,
        )
