"""Conversations, membership, users and encryption state."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from ._address import Address
from ._capabilities import (
    SupportsConversationCreation,
    SupportsConversations,
    SupportsDirectory,
    SupportsDisappearing,
    SupportsEncryption,
    SupportsInvites,
    SupportsMembership,
    supports,
    unsupported,
)
from ._client_core import ClientCore

if TYPE_CHECKING:
    from ._info import Conversation, EncryptionState, UserInfo

__all__ = ["ConversationsMixin"]


class ConversationsMixin(ClientCore):
    async def conversations(self, network: str | None = None) -> list[Conversation]:
        """The conversations of every adapter (of ``network``) that can list them."""
        self._check_open()
        named = None if network is None else self.adapter(network)
        if named is not None and not supports(named, SupportsConversations):
            raise unsupported(named, SupportsConversations)
        found: list[Conversation] = []
        for adapter in self._adapters.values():
            if network is not None and adapter.network != network:
                continue
            if supports(adapter, SupportsConversations):
                found.extend(await adapter.conversations())
        return found

    async def conversation(self, address: Address | str) -> Conversation:
        self._check_open()
        address = Address.parse(address)
        adapter = self._adapter_for_event(address)
        if not supports(adapter, SupportsConversations):
            raise unsupported(adapter, SupportsConversations)
        return await adapter.conversation(address)

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
        if not supports(adapter, SupportsConversationCreation):
            raise unsupported(adapter, SupportsConversationCreation)
        people = [Address.parse(m) for m in members]
        return await self._retrying(
            lambda: adapter.create_conversation(
                name=name, members=people, encrypted=encrypted, direct=direct
            )
        )

    async def join(self, address: Address | str) -> Conversation:
        self._check_open()
        address = Address.parse(address)
        adapter = self._adapter_for_event(address)
        if not supports(adapter, SupportsMembership):
            raise unsupported(adapter, SupportsMembership)
        return await self._retrying(lambda: adapter.join(address))

    async def leave(self, address: Address | str) -> None:
        self._check_open()
        address = Address.parse(address)
        adapter = self._adapter_for_event(address)
        if not supports(adapter, SupportsMembership):
            raise unsupported(adapter, SupportsMembership)
        await adapter.leave(address)

    async def invite(self, conversation: Address | str, user: Address | str) -> None:
        self._check_open()
        room = Address.parse(conversation)
        adapter = self._adapter_for_event(room)
        if not supports(adapter, SupportsInvites):
            raise unsupported(adapter, SupportsInvites)
        await adapter.invite(room, Address.parse(user))

    async def find_users(self, network: str, query: str) -> list[UserInfo]:
        self._check_open()
        adapter = self.adapter(network)
        if not supports(adapter, SupportsDirectory):
            raise unsupported(adapter, SupportsDirectory)
        return list(await adapter.find_users(query))

    async def encryption_state(self, address: Address | str) -> EncryptionState:
        """How ``address`` is encrypted; plaintext on networks without encryption."""
        self._check_open()
        address = Address.parse(address)
        adapter = self._adapter_for_event(address)
        if not supports(adapter, SupportsEncryption):
            from ._info import EncryptionState

            return EncryptionState(encrypted=False, can_decrypt=True)
        return await adapter.encryption_state(address)

    async def set_disappearing(self, conversation: Address | str, ttl: timedelta | None) -> None:
        """Set (or with ``None`` turn off) the conversation's disappearing-message timer."""
        self._check_open()
        address = Address.parse(conversation)
        adapter = self._adapter_for_event(address)
        if not supports(adapter, SupportsDisappearing):
            raise unsupported(adapter, SupportsDisappearing)
        await adapter.set_disappearing(address, ttl)

    async def trust(self, user: Address | str, fingerprint: str | None = None) -> None:
        """Accept (or, with a fingerprint, verify) a changed identity of ``user``."""
        self._check_open()
        address = Address.parse(user)
        adapter = self._adapter_for_event(address)
        if not supports(adapter, SupportsEncryption):
            raise unsupported(adapter, SupportsEncryption)
        await adapter.trust(address, fingerprint)
