"""The conversation half of SignalAdapter: groups, contacts, users, trust, timers."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from unimsg import (
    Address,
    AddressKind,
    Conversation,
    EncryptionState,
    InvalidAddressError,
    InvalidContentError,
    NotFoundError,
    NotSupportedError,
    RemoteProtocolError,
    UserInfo,
)

from ._base import SignalBase
from ._convert import group_address, person_address
from ._errors import unknown_identity
from ._groups import contact_conversation, contact_name, group_conversation
from ._jsonrpc import JsonValue

_USERNAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_.")


class SignalDirectory(SignalBase):
    # -- conversations ----------------------------------------------------------------------

    async def _group_json(self, group: Address) -> dict[str, Any] | None:
        rows = await self._call("listGroups", {"groupId": group.id}, about=group)
        row = rows[0] if isinstance(rows, list) and rows else None
        return row if isinstance(row, dict) else None

    async def conversations(self) -> Sequence[Conversation]:
        me = self._account
        found: list[Conversation] = []
        for group in await self._call("listGroups") or []:
            conv = group_conversation(group, me)
            if conv is not None and (me in conv.members or conv.invited):
                found.append(conv)
                self._groups.remember(group)
        for contact in await self._call("listContacts") or []:
            conv = contact_conversation(contact, me)
            if conv is not None:
                found.append(conv)
        return found

    async def conversation(self, address: Address) -> Conversation:
        self._check()
        address = self._own(address)
        if address.kind is AddressKind.GROUP:
            group = await self._group_json(address)
            self._groups.remember(group)
            conv = group_conversation(group, self._account)
            if conv is None or (self._account not in conv.members and not conv.invited):
                raise NotFoundError(f"{self._account} is not in the group {address}")
            return conv
        if address.kind is AddressKind.USER:
            rows = await self._call("listContacts", {"recipient": [address.id]}, about=address)
            for row in rows if isinstance(rows, list) else []:
                conv = contact_conversation(row, self._account)
                if conv is not None and not (isinstance(row, dict) and row.get("unregistered")):
                    return conv
        status = await self._status(address)
        if not status or not status.get("isRegistered"):
            raise NotFoundError(f"{address} has no Signal account")
        return Conversation(
            address=address, direct=True, members=(self._account, address), encrypted=True
        )

    async def create_conversation(
        self,
        *,
        name: str | None,
        members: Sequence[Address],
        encrypted: bool,
        direct: bool,
    ) -> Conversation:
        """A new group; a direct conversation needs no creation and is just looked up.

        Signal encrypts every conversation, so ``encrypted=False`` still gives an
        encrypted group.
        """
        self._check()
        people = [self._own(m) for m in members]
        if direct and len(people) == 1 and people[0].is_person:
            return await self.conversation(people[0])
        params: dict[str, JsonValue] = {"member": [self._recipient(p) for p in people]}
        if name:
            params["name"] = name
        result = await self._call("updateGroup", params)
        group = group_address(result.get("groupId") if isinstance(result, dict) else None)
        if group is None:
            raise RemoteProtocolError("signal-cli created a group but did not say its id")
        return await self.conversation(group)

    async def join(self, address: Address) -> Conversation:
        """Accept an invitation to a group (a direct conversation needs no joining).

        To join by an invite link, use `join_link`.
        """
        self._check()
        address = self._own(address)
        if address.is_person:
            return await self.conversation(address)
        group = await self._group_json(address)
        conv = group_conversation(group, self._account)
        if conv is None:
            raise NotFoundError(
                f"{self._account} is not invited to {address}; use join_link() with an invite link"
            )
        if self._account in conv.members:
            return conv
        await self._call("updateGroup", {"groupId": address.id}, about=address)
        return await self.conversation(address)

    async def join_link(self, url: str) -> Conversation:
        """Join a group by its ``https://signal.group/#…`` invite link.

        When an admin must approve, the result has ``invited=True`` until they do.
        """
        self._check()
        if not url.startswith("https://signal.group/#"):
            raise InvalidAddressError(f"not a Signal group link: {url[:40]!r}")
        result = await self._call("joinGroup", {"uri": url})
        group = group_address(result.get("groupId") if isinstance(result, dict) else None)
        if group is None:
            raise RemoteProtocolError("signal-cli joined a group but did not say its id")
        if isinstance(result, dict) and result.get("onlyRequested") is True:
            return Conversation(address=group, encrypted=True, invited=True)
        return await self.conversation(group)

    async def leave(self, address: Address) -> None:
        self._check()
        address = self._own(address)
        if not address.is_group:
            raise NotSupportedError("signal", "leaving a direct conversation")
        await self._call("quitGroup", {"groupId": address.id}, about=address)
        self._groups.remember(await self._group_json(address))

    async def invite(self, conversation: Address, user: Address) -> None:
        """Add ``user`` to the group (Signal adds members directly; no acceptance needed)."""
        self._check()
        conversation, user = self._own(conversation), self._own(user)
        if not conversation.is_group:
            raise NotSupportedError("signal", "inviting into a direct conversation")
        params: dict[str, JsonValue] = {
            "groupId": conversation.id,
            "member": [self._recipient(user)],
        }
        await self._call("updateGroup", params, about=user)
        self._groups.remember(await self._group_json(conversation))

    # -- users ---------------------------------------------------------------------------------

    async def find_users(self, query: str) -> Sequence[UserInfo]:
        """Contacts matching ``query``, plus the account of a number or username given in full."""
        self._check()
        needle = query.strip().casefold()
        found: dict[Address, UserInfo] = {}
        for row in await self._call("listContacts") or []:
            info = _contact_info(row)
            if info is not None and needle and needle in _haystack(row):
                found[info.address] = info
        exact = _exact(query.strip())
        if exact is not None and not any(exact in (i.address, *i.extra) for i in found.values()):
            status = await self._status(exact)
            if status is not None:
                uuid = status.get("uuid")
                address = person_address(status.get("number"), uuid) or exact
                extra = tuple(a for a in (exact, person_address(uuid)) if a and a != address)
                found[address] = UserInfo(
                    address=address, registered=bool(status.get("isRegistered")), extra=extra
                )
        return list(found.values())

    # -- encryption and trust ----------------------------------------------------------------

    async def _peers(self, address: Address) -> list[Address]:
        if address.is_group:
            conv = await self.conversation(address)
            return [m for m in conv.members if m != self._account]
        return [await self._resolve(address)]

    async def encryption_state(self, address: Address) -> EncryptionState:
        """Always encrypted; ``unverified``: no verified safety number, ``changed``: untrusted."""
        self._check()
        peers = await self._peers(self._own(address))
        levels: dict[Address, str] = {}
        for row in await self._call("listIdentities") or []:
            if not isinstance(row, dict) or not isinstance(row.get("trustLevel"), str):
                continue
            for key in ("number", "uuid"):
                person = person_address(row.get(key))
                if person is not None:
                    levels[person] = row["trustLevel"]
        return EncryptionState(
            encrypted=True,
            scheme="signal",
            can_decrypt=True,
            unverified=[p for p in peers if levels.get(p) != "TRUSTED_VERIFIED"],
            changed=[p for p in peers if levels.get(p) == "UNTRUSTED"],
        )

    async def trust(self, person: Address, safety_number: str | None = None) -> None:
        """Trust ``person``'s identity: verified by safety number, else whatever key is known."""
        self._check()
        params: dict[str, JsonValue] = {"recipient": self._recipient(self._own(person))}
        if safety_number is None:
            params["trustAllKnownKeys"] = True
        else:
            params["verifiedSafetyNumber"] = safety_number
        try:
            await self._call("trust", params, about=person)
        except InvalidContentError:
            # signal-cli says "safety number incorrect" also when it knows no key at all.
            rows = await self._call("listIdentities", {"number": params["recipient"]})
            if not rows:
                raise unknown_identity(person) from None
            raise

    async def submit_captcha(self, token: str, captcha: str) -> None:
        """Lift a proof-required rate limit (``CaptchaRequiredError.captcha_token``)."""
        self._check()
        await self._call("submitRateLimitChallenge", {"challenge": token, "captcha": captcha})

    # -- disappearing messages ---------------------------------------------------------------

    async def set_disappearing(self, conversation: Address, ttl: timedelta | None) -> None:
        """Set the conversation's timer; the change is announced to its members."""
        self._check()
        conversation = self._own(conversation)
        seconds = 0 if ttl is None else max(1, math.ceil(ttl.total_seconds()))
        if conversation.is_group:
            params: dict[str, JsonValue] = {"groupId": conversation.id, "expiration": seconds}
            await self._call("updateGroup", params, about=conversation)
            self._groups.remember(await self._group_json(conversation))
            return
        person = await self._resolve(conversation)
        params = {"recipient": person.id, "expiration": seconds}
        await self._call("updateContact", params, about=conversation)


def _haystack(row: Any) -> str:
    if not isinstance(row, dict):
        return ""
    profile = row.get("profile") if isinstance(row.get("profile"), dict) else {}
    assert isinstance(profile, dict)
    parts = [row.get(k) for k in ("number", "uuid", "username", "name", "nickName")]
    parts += [profile.get("givenName"), profile.get("familyName")]
    return "\n".join(p for p in parts if isinstance(p, str)).casefold()


def _contact_info(row: Any) -> UserInfo | None:
    if not isinstance(row, dict):
        return None
    address = person_address(row.get("number"), row.get("uuid"))
    if address is None:
        return None
    extra = [person_address(row.get("uuid"))]
    if isinstance(row.get("username"), str):
        extra.append(person_address(f"u:{row['username']}"))
    return UserInfo(
        address=address,
        display_name=contact_name(row),
        registered=not row.get("unregistered"),
        extra=tuple(a for a in extra if a is not None and a != address),
    )


def _exact(query: str) -> Address | None:
    """A query that names one account: ``+E164``, ``u:name.42`` or ``name.42``."""
    text = query.removeprefix("signal:").removeprefix("@")
    if text.startswith("+"):
        return person_address(text)
    name = text.removeprefix("u:").lower()
    if "." in name and set(name) <= _USERNAME_CHARS:
        return person_address(f"u:{name}")
    return None
