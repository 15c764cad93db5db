"""Conversations, membership, users and encryption state."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from ._address import Address
from ._client_core import ClientCore
from ._types import (
    Conversation,
    EncryptionState,
    UserInfo,
)

__all__ = ["ConversationsMixin"]


class ConversationsMixin(ClientCore):
    async def conversations(self, network: str | None = None) -> list[Conversation]:
        self._check_open()
        found: list[Conversation] = []
        for adapter in self._adapters.values():
            if network is None or adapter.network == network:
                found.extend(await adapter.conversations())
        return found

    async def conversation(self, address: Address | str) -> Conversation:
        self._check_open()
        address = Address.parse(address)
        return await self._adapter_for_event(address).conversation(address)

    async def create_conversation(
        self,
        network: str,
        *,
        name: str | None = None,
        members: Sequence[Address | str] = (),
        encrypted: bool = True,
        direct: bool = False,
    ) -> Conversation:
        self._check_open()
        adapter = self.adapter(network)
        self._require(adapter, "create_conversation")
        people = [Address.parse(m) for m in members]
        return await self._retrying(
            lambda: adapter.create_conversation(
                name=name, members=people, encrypted=encrypted, direct=direct
            )
        )

    async def join(self, address: Address | str) -> Conversation:
        self._check_open()
        address = Address.parse(address)
        return await self._retrying(lambda: self._adapter_for_event(address).join(address))

    async def leave(self, address: Address | str) -> None:
        self._check_open()
        address = Address.parse(address)
        await self._adapter_for_event(address).leave(address)

    async def invite(self, conversation: Address | str, user: Address | str) -> None:
        self._check_open()
        room = Address.parse(conversation)
        adapter = self._adapter_for_event(room)
        self._require(adapter, "invites")
        await adapter.invite(room, Address.parse(user))

    async def find_users(self, network: str, query: str) -> list[UserInfo]:
        self._check_open()
        adapter = self.adapter(network)
        self._require(adapter, "directory_search")
        return list(await adapter.find_users(query))

    async def encryption_state(self, address: Address | str) -> EncryptionState:
        self._check_open()
        address = Address.parse(address)
        return await self._adapter_for_event(address).encryption_state(address)

    async def set_disappearing(self, conversation: Address | str, ttl: timedelta | None) -> None:
        """Set (or with ``None`` turn off) the conversation's disappearing-message timer."""
        self._check_open()
        address = Address.parse(conversation)
        adapter = self._adapter_for_event(address)
        self._require(adapter, "disappearing_messages")
        await adapter.set_disappearing(address, ttl)

    async def trust(self, user: Address | str, fingerprint: str | None = None) -> None:
        """Accept (or, with a fingerprint, verify) a changed identity of ``user``."""
        self._check_open()
        address = Address.parse(user)
        await self._adapter_for_event(address).trust(address, fingerprint)
