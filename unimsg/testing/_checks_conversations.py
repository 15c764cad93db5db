"""Conformance checks: conversations, membership, encryption state and trust."""

from __future__ import annotations

import anyio

from .._address import Address
from .._capabilities import (
    SupportsConversationCreation,
    SupportsConversations,
    SupportsEncryption,
    SupportsInvites,
    SupportsMembership,
)
from .._client import Client
from .._events import Membership, MembershipChanged, MessageReceived
from .._exceptions import EncryptionRequiredError, UntrustedIdentityError, UnverifiedDevicesError
from ._checks_messages import clients
from ._kit import need, need_hook
from ._pair import ConformancePair
from ._waiting import EventWaiter


class ConversationChecks:
    async def test_membership(self, conformance_pair: ConformancePair) -> None:
        pair = conformance_pair
        need(pair.first, SupportsConversationCreation, SupportsConversations)
        need(pair.second, SupportsMembership, SupportsConversations)
        async with clients(pair) as (a, b, inbox):
            room = await a.create_conversation(
                pair.first.network, name="conformance", members=[pair.second.account]
            )
            assert room.address.is_group, room
            await b.join(room.address)
            listed = {c.address for c in await b.conversations()}
            assert room.address in listed, (room, listed)
            await a.send(room.address, "to the group")
            got = await inbox.next(MessageReceived, lambda e: e.text == "to the group")
            assert got.conversation == room.address, got
            members = (await a.conversation(room.address)).members
            assert pair.second.account in members, members

    async def test_leave_and_invite(self, conformance_pair: ConformancePair) -> None:
        pair = conformance_pair
        need(pair.first, SupportsConversationCreation, SupportsConversations, SupportsInvites)
        need(pair.second, SupportsMembership)
        them = pair.second.account
        async with clients(pair) as (a, b, inbox):
            room = await a.create_conversation(pair.first.network, name="door", members=[them])
            await b.join(room.address)
            await a.send(room.address, "welcome")
            await inbox.next(MessageReceived, lambda e: e.text == "welcome")
            outbox = EventWaiter(a, pair.timeout)

            await b.leave(room.address)
            await outbox.next(
                MembershipChanged, lambda e: e.member == them and e.membership is Membership.LEFT
            )
            assert them not in (await a.conversation(room.address)).members
            await a.send(room.address, "while away")
            await a.invite(room.address, them)
            await b.join(room.address)
            await a.send(room.address, "welcome back")
            back = await inbox.next(
                MessageReceived, lambda e: e.text in ("while away", "welcome back")
            )
            assert back.text == "welcome back", "a member who left received the room's messages"
            assert them in (await a.conversation(room.address)).members

    async def test_encryption_state(self, conformance_pair: ConformancePair) -> None:
        pair = conformance_pair
        async with clients(pair) as (a, _b, inbox):
            sent = await a.send(pair.second.account, "secret")
            state = await a.encryption_state(sent.conversation)
            assert state.encrypted == (state.scheme is not None), state
            await inbox.next(MessageReceived, lambda e: e.text == "secret")
            if not isinstance(pair.first, SupportsEncryption):
                assert not state.encrypted, state
                await _refused_plaintext(a, sent.conversation)
                return
            if not isinstance(pair.first, SupportsConversationCreation):
                return
            room = await a.create_conversation(
                pair.first.network, name="plain", members=[pair.second.account], encrypted=False
            )
            if not (await a.encryption_state(room.address)).encrypted:
                await _refused_plaintext(a, room.address)

    async def test_trust_after_identity_change(self, conformance_pair: ConformancePair) -> None:
        pair = conformance_pair
        need(pair.first, SupportsEncryption)
        change_identity = need_hook(pair.change_identity, "change_identity")
        them = pair.second.account
        async with clients(pair) as (a, _b, inbox):
            where = (await a.send(them, "before")).conversation
            await inbox.next(MessageReceived, lambda e: e.text == "before")
            await change_identity(pair.second)
            with anyio.fail_after(pair.timeout):
                # The network tells of the change in its own time; ask until it has.
                while them not in (await a.encryption_state(where)).changed:  # noqa: ASYNC110
                    await anyio.sleep(0.05)
            try:
                await a.send(them, "to a changed identity")
            except (UntrustedIdentityError, UnverifiedDevicesError):
                pass
            else:
                raise AssertionError("a send went to a changed identity nobody trusted")
            await a.trust(them)
            assert them not in (await a.encryption_state(where)).changed
            sent = await a.send(them, "trusted again")
            assert not sent.failed, sent


async def _refused_plaintext(client: Client, where: Address) -> None:
    try:
        await client.send(where, "x", require_encryption=True)
    except EncryptionRequiredError:
        pass
    else:
        raise AssertionError("require_encryption sent into a plaintext conversation")
