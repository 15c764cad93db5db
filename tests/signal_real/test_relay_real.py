"""The relay between a Matrix room on Synapse and a Signal group on the real signal-cli.

Both Signal accounts (the relay's and Bob's) are real daemon accounts; their messages are
end-to-end encrypted by libsignal and carried by the service stand-in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
from unimsg_signal import SignalAdapter

import unimsg
from unimsg import Bot, Client, Contact, ContactBook
from unimsg.testing import EventWaiter

from ..matrix.fixtures_adapter import adapter_for
from ..matrix.synapse import register_user, require_instance
from .conftest import ALICE, BOB
from .daemon import RealDaemon

pytestmark = pytest.mark.anyio
FAST: dict[str, Any] = {
    "min_backoff": 0.05,
    "max_backoff": 0.5,
    "request_timeout": 30.0,
    "connect_timeout": 60.0,
}


async def _joined(client: Client, room: unimsg.Address) -> None:
    with anyio.fail_after(30):
        while True:
            try:
                if not (await client.conversation(room)).invited:
                    return
            except unimsg.NotFoundError:
                pass
            await anyio.sleep(0.1)


async def test_relay_between_matrix_and_real_signal(
    multi_daemon: RealDaemon, tmp_path: Path
) -> None:
    synapse = require_instance("relaxed")
    relay_user, alice_user = await register_user(synapse), await register_user(synapse)
    alice_m = unimsg.Address.parse(f"matrix:{alice_user.user_id}")
    bob_s = unimsg.Address.signal(BOB)
    people = ContactBook.of(Contact.of("Alice", alice_m), Contact.of("Bob", bob_s))
    url = multi_daemon.url("tcp")
    relay_client = Client(
        adapter_for(relay_user, tmp_path / "relay-m"),
        SignalAdapter.create(ALICE, url, multi_account=True, **FAST),
        store=tmp_path / "relay.db",
    )
    alice_client = Client(adapter_for(alice_user, tmp_path / "alice"))
    bob_client = Client(SignalAdapter.create(BOB, url, multi_account=True, **FAST))
    async with relay_client, alice_client, bob_client:
        room = await relay_client.create_conversation(
            "matrix", name="bridge", members=[alice_m], encrypted=True
        )
        group = await relay_client.create_conversation("signal", name="bridge", members=[bob_s])
        await _joined(alice_client, room.address)
        alice, bob = EventWaiter(alice_client, 30), EventWaiter(bob_client, 30)
        bot = Bot(relay_client, contacts=people)
        bot.relay(room.address, group.address)
        async with bot:
            sent = await alice_client.send(room.address, "hello from matrix")
            copy = await bob.next(unimsg.MessageReceived, lambda e: "hello from" in e.text)
            assert copy.text == "Alice: hello from matrix"
            assert copy.conversation == group.address

            await bob_client.reply(copy, "reply from signal")
            reply = await alice.next(unimsg.MessageReceived, lambda e: "reply from" in e.text)
            assert reply.text.endswith("Bob: reply from signal")
            assert reply.reply_to is not None and reply.reply_to.id == sent.id

            await bob_client.react(copy, "👍")
            reaction = await alice.next(unimsg.ReactionReceived)
            assert reaction.emoji == "👍" and reaction.target.id == sent.id

            await alice_client.edit(sent, "hello from matrix, edited")
            edit = await bob.next(unimsg.MessageEdited)
            assert edit.target.id == copy.id and "edited" in edit.text

            original = await bob_client.send(group.address, "hello from signal")
            mirrored = await alice.next(
                unimsg.MessageReceived, lambda e: "hello from signal" in e.text
            )
            assert mirrored.text == "Bob: hello from signal"

            await alice_client.delete(sent)
            deleted = await bob.next(unimsg.MessageDeleted)
            assert deleted.target.id == copy.id
            assert original.id
