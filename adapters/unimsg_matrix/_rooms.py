"""Conversations on Matrix: rooms, direct rooms for people, membership and the directory."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import nio

from unimsg import (
    Address,
    AddressKind,
    Conversation,
    EncryptionState,
    NotFoundError,
    NotSupportedError,
    UserInfo,
)

from ._errors import check, translated
from ._session import Session
from ._trust import Trust

__all__ = ["MEGOLM", "Rooms"]

log = logging.getLogger("unimsg.matrix")

MEGOLM = "m.megolm.v1.aes-sha2"
_ENCRYPTION_STATE = {
    "type": "m.room.encryption",
    "state_key": "",
    "content": {"algorithm": MEGOLM},
}


class Rooms:
    def __init__(self, session: Session, trust: Trust) -> None:
        self._session = session
        self._client = session.client
        self._state = session.state
        self._trust = trust

    # -- addresses to room ids ------------------------------------------------------------

    def _own(self, address: Address) -> None:
        if address.network != "matrix":
            raise NotSupportedError("matrix", f"addresses of {address.network}")

    def is_member(self, room_id: str) -> bool:
        # nio keeps rooms we left in client.rooms; our own membership tells.
        room = self._client.rooms.get(room_id)
        user = None if room is None else room.users.get(self._session.user_id)
        return user is not None and not user.invited

    def joined(self, room_id: str) -> nio.MatrixRoom:
        room = self._client.rooms.get(room_id)
        if room is None or not self.is_member(room_id):
            raise NotFoundError(
                f"{self._session.user_id} is not in {room_id}: join it first, or check the id"
            )
        return room

    async def room_id(self, address: Address) -> str:
        """The room an address names; aliases are resolved, people give no room here."""
        self._own(address)
        if address.kind is AddressKind.ALIAS:
            with translated(f"resolve {address.id}"):
                response = await self._client.room_resolve_alias(address.id)
            room_id: str = check(response, f"resolve {address.id}").room_id
            return room_id
        if address.is_person:
            known = self._state.direct.get(address.id)
            if known is None:
                raise NotFoundError(f"no direct conversation with {address} yet")
            return known
        return address.id

    async def target(self, address: Address) -> str:
        """The joined room to send to, creating the direct room for a person on first use."""
        if address.is_person:
            self._own(address)
            known = self._state.direct.get(address.id)
            if known is not None and self.is_member(known):
                return known
            return await self._create_direct(address.id)
        room_id = await self.room_id(address)
        self.joined(room_id)
        return room_id

    async def _exists(self, user_id: str) -> None:
        with translated(f"look up {user_id}"):
            response = await self._client.get_profile(user_id)
        if isinstance(response, nio.ErrorResponse):
            if response.status_code in ("M_NOT_FOUND", "M_INVALID_PARAM"):
                raise NotFoundError(f"{user_id} has no account on its homeserver")
            check(response, f"look up {user_id}")

    async def _create_direct(self, user_id: str) -> str:
        await self._exists(user_id)
        room_id = await self._create(
            name=None, invite=[user_id], encrypted=True, direct=True, what=f"a chat with {user_id}"
        )
        self.remember_direct(user_id, room_id)
        await self._publish_direct()
        return room_id

    def remember_direct(self, user_id: str, room_id: str, *, replace: bool = True) -> None:
        if not replace and user_id in self._state.direct:
            return
        self._state.direct[user_id] = room_id
        self._state.save()

    async def _publish_direct(self) -> None:
        # m.direct lets other clients of this account show the room as a chat;
        # failing to publish it does not affect unimsg, which keeps its own map.
        mapping = {user: [room] for user, room in self._state.direct.items()}
        path = (
            f"/_matrix/client/v3/user/{quote(self._session.user_id, safe='')}/account_data/m.direct"
        )
        try:
            await self._session.request("PUT", path, mapping, "publish direct rooms")
        except Exception as exc:
            log.debug("publishing m.direct failed: %s", type(exc).__name__)

    async def _create(
        self, *, name: str | None, invite: Sequence[str], encrypted: bool, direct: bool, what: str
    ) -> str:
        with translated(f"create {what}"):
            response = await self._client.room_create(
                name=name,
                is_direct=direct,
                preset=nio.RoomPreset.trusted_private_chat
                if direct
                else nio.RoomPreset.private_chat,
                invite=list(invite),
                initial_state=[_ENCRYPTION_STATE] if encrypted else [],
            )
        room_id: str = check(response, f"create {what}").room_id

        def ready() -> bool:
            room = self._client.rooms.get(room_id)
            members = room.users if room is not None else {}
            return self.is_member(room_id) and all(user in members for user in invite)

        # Sending needs the room and its invitees in nio's state, which only sync brings.
        await self._session.wait_until(ready, f"the new room {room_id}")
        return room_id

    # -- views -------------------------------------------------------------------------------

    def _is_direct(self, room_id: str) -> bool:
        return room_id in self._state.direct.values()

    def view(self, room: nio.MatrixRoom, *, invited: bool = False) -> Conversation:
        members = [Address.matrix(user) for user in room.users]
        if invited and self._session.user_id not in room.users:
            members.append(Address.matrix(self._session.user_id))
        return Conversation(
            address=Address.matrix(room.room_id),
            name=room.name or room.canonical_alias or None,
            direct=self._is_direct(room.room_id),
            members=members,
            encrypted=bool(room.encrypted),
            topic=room.topic,
            invited=invited,
        )

    async def conversations(self) -> list[Conversation]:
        found = [
            self.view(room) for room in self._client.rooms.values() if self.is_member(room.room_id)
        ]
        found += [self.view(room, invited=True) for room in self._client.invited_rooms.values()]
        return found

    async def conversation(self, address: Address) -> Conversation:
        room_id = await self.room_id(address)
        if self.is_member(room_id):
            return self.view(self._client.rooms[room_id])
        if room_id in self._client.invited_rooms:
            return self.view(self._client.invited_rooms[room_id], invited=True)
        raise NotFoundError(f"{self._session.user_id} is not in {address}")

    # -- membership ----------------------------------------------------------------------------

    async def create(
        self, *, name: str | None, members: Sequence[Address], encrypted: bool, direct: bool
    ) -> Conversation:
        for member in members:
            self._own(member)
            if not member.is_person:
                raise NotSupportedError("matrix", f"{member} as a member: members are people")
            await self._exists(member.id)
        invite = [m.id for m in members]
        room_id = await self._create(
            name=name, invite=invite, encrypted=encrypted, direct=direct, what=f"room {name!r}"
        )
        if direct and len(invite) == 1:
            self.remember_direct(invite[0], room_id, replace=False)
            await self._publish_direct()
        return self.view(self._client.rooms[room_id])

    async def join(self, address: Address) -> Conversation:
        self._own(address)
        if address.is_person:
            return self.view(self._client.rooms[await self.target(address)])
        target = address.id
        with translated(f"join {target}"):
            response = await self._client.join(target)
        room_id: str = check(response, f"join {target}").room_id
        await self._session.wait_until(lambda: self.is_member(room_id), f"joining {target}")
        return self.view(self._client.rooms[room_id])

    async def leave(self, address: Address) -> None:
        room_id = await self.room_id(address)
        with translated(f"leave {room_id}"):
            response = await self._client.room_leave(room_id)
        check(response, f"leave {room_id}")
        await self._session.wait_until(lambda: not self.is_member(room_id), f"leaving {room_id}")

    async def invite(self, conversation: Address, user: Address) -> None:
        self._own(user)
        room_id = await self.room_id(conversation)
        await self._exists(user.id)
        with translated(f"invite {user.id} to {room_id}"):
            response = await self._client.room_invite(room_id, user.id)
        check(response, f"invite {user.id} to {room_id}")

    async def find_users(self, query: str) -> list[UserInfo]:
        body: dict[str, Any] = {"search_term": query, "limit": 50}
        found = await self._session.request(
            "POST", "/_matrix/client/v3/user_directory/search", body, "search the user directory"
        )
        users: list[UserInfo] = []
        for entry in found.get("results", []):
            try:
                address = Address.matrix(entry["user_id"])
            except (KeyError, TypeError, ValueError):
                continue
            name = entry.get("display_name")
            users.append(
                UserInfo(
                    address=address,
                    display_name=name if isinstance(name, str) else None,
                    registered=True,
                )
            )
        return users

    # -- encryption ------------------------------------------------------------------------------

    async def encryption_state(self, address: Address) -> EncryptionState:
        self._own(address)
        can_decrypt = self._client.olm is not None
        if address.is_person and address.id not in self._state.direct:
            # The direct room does not exist yet; it will be created encrypted.
            return EncryptionState(
                encrypted=True,
                scheme=MEGOLM,
                can_decrypt=can_decrypt,
                own_device_verified=self._trust.own_device_verified,
            )
        room_id = await self.room_id(address)
        room = self._client.rooms.get(room_id) or self._client.invited_rooms.get(room_id)
        if room is None:
            raise NotFoundError(f"{self._session.user_id} is not in {address}")
        if not room.encrypted:
            return EncryptionState(encrypted=False, can_decrypt=True)
        unverified, changed = self._trust.assess(room.users)
        return EncryptionState(
            encrypted=True,
            scheme=MEGOLM,
            can_decrypt=can_decrypt,
            own_device_verified=self._trust.own_device_verified,
            unverified=[Address.matrix(u) for u in unverified],
            changed=[Address.matrix(u) for u in changed],
        )
