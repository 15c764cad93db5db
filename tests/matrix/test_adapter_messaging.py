"""Two unimsg clients talking through Synapse, in plaintext and encrypted rooms."""

from __future__ import annotations

import pytest

from unimsg import (
    Attachment,
    Client,
    Content,
    Mention,
    MessageDeleted,
    MessageEdited,
    MessageReceived,
    ReactionReceived,
)
from unimsg.testing._waiting import EventWaiter

from .fixtures_adapter import MakeAdapter, MakeUser, make_adapter, store_root

__all__ = ["make_adapter", "store_root"]

pytestmark = pytest.mark.asyncio


@pytest.mark.parametrize("encrypted", [False, True], ids=["plaintext", "encrypted"])
async def test_conversation_round_trip(
    encrypted: bool, make_matrix_user: MakeUser, make_adapter: MakeAdapter
) -> None:
    alice_user, bob_user = await make_matrix_user(), await make_matrix_user()
    alice, bob = make_adapter(alice_user), make_adapter(bob_user)
    async with Client(alice) as a, Client(bob) as b:
        room = await a.create_conversation(
            "matrix", name="round trip", members=[bob.account], encrypted=encrypted
        )
        assert room.encrypted is encrypted
        inbox, outbox = EventWaiter(b, 15), EventWaiter(a, 15)
        await b.join(room.address)

        sent = await a.send(room.address, "**hello** bob", format="markdown")
        got = await inbox.next(MessageReceived, lambda e: "hello" in e.text)
        assert got.id == sent.id
        assert got.text == "**hello** bob"
        assert got.html == "<strong>hello</strong> bob"
        assert got.encrypted is encrypted
        assert got.sender == alice.account and not got.from_self

        reply = await b.reply(got, "hi alice")
        answer = await outbox.next(MessageReceived, lambda e: e.text == "hi alice")
        assert answer.reply_to is not None and answer.reply_to.id == sent.id
        assert answer.id == reply.id

        mention = Content(text="ping Bob", mentions=[Mention(bob.account, 5, 3)])
        await a.send(room.address, mention)
        pinged = await inbox.next(MessageReceived, lambda e: e.text == "ping Bob")
        assert [(m.user, m.start, m.length) for m in pinged.mentions] == [(bob.account, 5, 3)]

        await b.react(got, "👍")
        reaction = await outbox.next(ReactionReceived)
        assert (reaction.emoji, reaction.target.id, reaction.removed) == ("👍", sent.id, False)
        await b.react(got, "👍", remove=True)
        taken_back = await outbox.next(ReactionReceived)
        assert (taken_back.emoji, taken_back.target.id, taken_back.removed) == (
            "👍",
            sent.id,
            True,
        )

        await a.edit(sent, "hello again")
        edit = await inbox.next(MessageEdited)
        assert edit.target.id == sent.id and edit.text == "hello again"

        await a.delete(sent)
        deleted = await inbox.next(MessageDeleted)
        assert deleted.target.id == sent.id

        blob = bytes(range(256)) * 40
        await a.send(
            room.address,
            attachments=[
                Attachment(data=blob, filename="data.bin", mime_type="application/x-test")
            ],
        )
        with_file = await inbox.next(MessageReceived, lambda e: bool(e.attachments))
        (attachment,) = with_file.attachments
        assert attachment.filename == "data.bin"
        assert attachment.mime_type == "application/x-test"
        assert attachment.size == len(blob)
        assert attachment.source is not None and attachment.source.startswith("mxc://")
        assert (attachment.secrets is not None) is encrypted
        assert await b.download(attachment, "matrix") == blob


async def test_direct_room_is_created_once_and_remembered(
    make_matrix_user: MakeUser, make_adapter: MakeAdapter
) -> None:
    alice_user, bob_user = await make_matrix_user(), await make_matrix_user()
    alice, bob = make_adapter(alice_user), make_adapter(bob_user)
    async with Client(alice) as a, Client(bob) as b:
        inbox = EventWaiter(b, 15)
        first = await a.send(bob.account, "one")
        second = await a.send(bob.account, "two")
        assert first.conversation == second.conversation
        got = await inbox.next(MessageReceived, lambda e: e.text == "one")
        assert got.encrypted
        assert got.conversation == first.conversation
        conversation = await a.conversation(bob.account)
        assert conversation.direct and conversation.encrypted
        assert conversation.address == first.conversation
        # The invitee answers a person, not a room, and lands in the same room.
        back = await b.send(alice.account, "three")
        assert back.conversation == first.conversation
    # Remembered across restarts through the store.
    async with Client(alice) as a:
        again = await a.send(bob.account, "four")
        assert again.conversation == first.conversation
