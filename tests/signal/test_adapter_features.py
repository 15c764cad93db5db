"""SignalAdapter against emulated daemons: delivery outcomes, trust, timers, groups."""

from __future__ import annotations

from datetime import timedelta

import pytest
from adapter_fixtures import ALICE, BOB, CAROL, NOBODY, rig
from unimsg_signal import CaptchaRequiredError
from unimsg_signal.emulator import Failure, LinkMode, safety_number

from unimsg import (
    Address,
    Attachment,
    Client,
    ConversationUpdated,
    EncryptionStateChanged,
    Membership,
    MembershipChanged,
    MessageReceived,
    RateLimitedError,
    SendStatus,
    UndecryptableMessage,
    UnregisteredRecipientError,
    UntrustedIdentityError,
)
from unimsg.testing import EventWaiter

pytestmark = pytest.mark.anyio

A, B, C = (Address.signal(n) for n in (ALICE, BOB, CAROL))


async def test_partial_failure_is_visible_and_all_failed_is_typed() -> None:
    async with rig() as r:
        for number in (ALICE, BOB, CAROL):
            await r.serve(number)
        async with Client(r.adapter(ALICE)) as alice:
            group = await alice.create_conversation("signal", name="g", members=[B, C])
            r.network.faults.fail_recipient(CAROL, Failure.UNREGISTERED)
            sent = await alice.send(group.address, "hi all")
            assert [(f.recipient, f.status) for f in sent.failed] == [(C, SendStatus.UNREGISTERED)]
            assert any(res.recipient == B and res.ok for res in sent.recipients)

            r.network.faults.fail_recipient(BOB, Failure.PROOF_REQUIRED, token="tok-1")
            with pytest.raises(CaptchaRequiredError) as limited:
                await alice.send(B, "again")
            assert isinstance(limited.value, RateLimitedError)
            assert limited.value.captcha_token == "tok-1"
            assert limited.value.retry_after == 86400

            with pytest.raises(UnregisteredRecipientError):
                await alice.send(f"signal:{NOBODY}", "anyone?")

            r.network.change_identity(BOB)
            with pytest.raises(UntrustedIdentityError) as untrusted:
                await alice.send(B, "still there?")
            assert untrusted.value.recipient == B


@pytest.mark.parametrize("policy", ["tofu", "always"])
async def test_identity_change(policy: str) -> None:
    async with rig() as r:
        await r.serve(ALICE)
        await r.serve(BOB)
        adapter = r.adapter(ALICE, trust_policy=policy)
        async with Client(adapter) as alice, Client(r.adapter(BOB)) as bob:
            inbox = EventWaiter(alice, 5)
            await alice.send(B, "hello")
            await bob.send(A, "hi back")
            await inbox.next(MessageReceived, lambda e: e.text == "hi back")
            r.network.change_identity(BOB)
            await bob.send(A, "new phone")
            changed = await inbox.next(EncryptionStateChanged)
            assert changed.member == B and changed.state.changed == (B,)
            await inbox.next(UndecryptableMessage)
            if policy == "tofu":
                assert (await alice.encryption_state(B)).changed == (B,)
                with pytest.raises(UntrustedIdentityError):
                    await alice.send(B, "refused")
                await adapter.trust(B)
            else:
                # 'always' trusts at once, and signal-cli delivers the held message again.
                again = await inbox.next(MessageReceived, lambda e: e.text == "new phone")
                assert again.sender == B
            sent = await alice.send(B, "accepted")
            assert not sent.failed
            state = await alice.encryption_state(B)
            assert state.encrypted and state.scheme == "signal" and not state.changed


async def test_always_policy_trusts_and_resends_once() -> None:
    async with rig() as r:
        await r.serve(ALICE)
        await r.serve(BOB)
        async with Client(r.adapter(ALICE, trust_policy="always")) as alice:
            await alice.send(B, "first")
            r.network.change_identity(BOB)
            sent = await alice.send(B, "after the change")
            assert not sent.failed


async def test_strict_policy_needs_a_verified_safety_number() -> None:
    async with rig() as r:
        await r.serve(ALICE)
        await r.serve(BOB)
        adapter = r.adapter(ALICE, trust_policy="strict")
        async with Client(adapter) as alice:
            with pytest.raises(UntrustedIdentityError):
                await alice.send(B, "unverified")
            network = r.network
            number = safety_number(network.account(ALICE), network.account(BOB))
            await adapter.trust(B, number)
            assert (await alice.encryption_state(B)).trusted
            await alice.send(B, "verified")


async def test_disappearing_timer_read_and_set() -> None:
    async with rig() as r:
        await r.serve(ALICE)
        await r.serve(BOB)
        async with Client(r.adapter(ALICE)) as alice, Client(r.adapter(BOB)) as bob:
            inbox = EventWaiter(bob, 5)
            await alice.send(B, "hi")
            await alice.set_disappearing(B, timedelta(hours=1))
            update = await inbox.next(ConversationUpdated, lambda e: e.disappearing_changed)
            assert update.disappearing == timedelta(hours=1) and update.conversation == A
            assert (await alice.conversation(B)).disappearing == timedelta(hours=1)
            await alice.send(B, "fleeting")
            got = await inbox.next(MessageReceived, lambda e: e.text == "fleeting")
            assert got.expires_in == timedelta(hours=1)
            assert (await bob.conversation(A)).disappearing == timedelta(hours=1)
            await alice.set_disappearing(B, None)
            off = await inbox.next(ConversationUpdated, lambda e: e.disappearing_changed)
            assert off.disappearing is None

            group = await alice.create_conversation("signal", name="g", members=[B])
            await alice.set_disappearing(group.address, timedelta(minutes=5))
            timer = await inbox.next(
                ConversationUpdated,
                lambda e: e.disappearing_changed and e.conversation == group.address,
            )
            assert timer.disappearing == timedelta(minutes=5)
            assert (await bob.conversation(group.address)).disappearing == timedelta(minutes=5)


async def test_group_membership_events_and_invite_link() -> None:
    async with rig() as r:
        for number in (ALICE, BOB, CAROL):
            await r.serve(number)
        adapter_c = r.adapter(CAROL)
        async with (
            Client(r.adapter(ALICE)) as alice,
            Client(r.adapter(BOB)) as bob,
            Client(adapter_c) as carol,
        ):
            inbox = EventWaiter(bob, 5)
            group = await alice.create_conversation("signal", name="team", members=[B])
            joined = await inbox.next(MembershipChanged)
            assert (joined.member, joined.membership) == (B, Membership.JOINED)
            await alice.invite(group.address, C)
            added = await inbox.next(MembershipChanged)
            assert (added.member, added.membership) == (C, Membership.JOINED)
            await carol.leave(group.address)
            left = await inbox.next(MembershipChanged)
            assert (left.member, left.membership) == (C, Membership.LEFT)

            stored = r.network.groups[group.address.id]
            stored.link_mode = LinkMode.ENABLED
            assert stored.invite_link is not None
            conv = await adapter_c.join_link(stored.invite_link)
            assert C in conv.members
            rejoined = await inbox.next(MembershipChanged)
            assert (rejoined.member, rejoined.membership) == (C, Membership.JOINED)
            listed = {c.address for c in await carol.conversations()}
            assert group.address in listed


async def test_linked_device_sync_is_from_self_and_attachments_download() -> None:
    async with rig() as r:
        await r.serve(ALICE)
        await r.serve(BOB)
        async with Client(r.adapter(ALICE)) as alice, Client(r.adapter(BOB)) as bob:
            inbox = EventWaiter(alice, 5)
            r.network.send_text(ALICE, BOB, "typed on my phone", device=2)
            synced = await inbox.next(MessageReceived)
            assert synced.from_self and synced.conversation == B and synced.sender == A

            photo = Attachment(data=b"\x89PNG...", filename="p.png", mime_type="image/png")
            await bob.send(A, "look", attachments=[photo])
            got = await inbox.next(MessageReceived, lambda e: e.text == "look")
            assert got.attachments[0].filename == "p.png"
            assert await alice.download(got.attachments[0], "signal") == b"\x89PNG..."
            # What this adapter sent itself never comes back as incoming.
            await inbox.none(MessageReceived, within=0.2)


async def test_find_users() -> None:
    async with rig() as r:
        await r.serve(ALICE)
        await r.serve(BOB)
        async with Client(r.adapter(ALICE)) as alice:
            by_name = await alice.find_users("signal", "bob.02")
            assert by_name and by_name[0].registered
            # A username reveals the ACI, not the phone number.
            assert by_name[0].address == Address.signal(r.network.account(BOB).aci)
            assert Address.parse("signal:u:bob.02") in by_name[0].extra
            by_number = await alice.find_users("signal", NOBODY)
            assert by_number and by_number[0].registered is False
            await alice.send(B, "now a contact")
            contacts = await alice.find_users("signal", "bob")
            assert [u.address for u in contacts] == [B]
            assert contacts[0].display_name == "Bob"
