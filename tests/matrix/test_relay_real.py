"""The relay between a Matrix room on Synapse and a Signal group on the daemon emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import anyio
import pytest
from unimsg_signal import SignalAdapter
from unimsg_signal.emulator import Daemon, EmulatedNetwork, ReceiveMode, serve_tcp

import unimsg
from unimsg import Bot, Client, Contact, ContactBook
from unimsg.testing import EventWaiter

from .fixtures_adapter import MakeUser, adapter_for
from .synapse import SynapseInstance

RELAY_S, BOB_S = "+15550000100", "+15550000002"
FAST = {"min_backoff": 0.02, "max_backoff": 0.2}


@asynccontextmanager
async def signal_daemons(network: EmulatedNetwork) -> AsyncIterator[dict[str, str]]:
    urls = {}
    async with AsyncExitStack() as stack:
        for number in (RELAY_S, BOB_S):
            daemon = await stack.enter_async_context(
                Daemon(network, [number], receive_mode=ReceiveMode.MANUAL)
            )
            server = await stack.enter_async_context(serve_tcp(daemon))
            urls[number] = f"tcp://127.0.0.1:{server.port}"
        yield urls


async def joined(client: Client, room: unimsg.Address) -> None:
    with anyio.fail_after(20):
        while True:
            try:
                if not (await client.conversation(room)).invited:
                    return
            except unimsg.NotFoundError:
                pass
            await anyio.sleep(0.1)


@pytest.mark.asyncio
async def test_relay_carries_everything_both_ways(
    synapse: SynapseInstance, make_matrix_user: MakeUser, tmp_path: Path
) -> None:
    relay_user, alice_user = await make_matrix_user(), await make_matrix_user()
    network = EmulatedNetwork()
    network.register(RELAY_S)
    network.register(BOB_S, given_name="Bob")
    group = network.create_group(network.account(RELAY_S), "bridge", [network.account(BOB_S)])
    group_address = unimsg.Address.parse(f"signal:group:{group.id}")
    alice_m = unimsg.Address.parse(f"matrix:{alice_user.user_id}")
    people = ContactBook.of(Contact.of("Alice", alice_m), Contact.of("Bob", f"signal:{BOB_S}"))

    async with signal_daemons(network) as urls:
        relay_client = Client(
            adapter_for(relay_user, tmp_path / "relay-m"),
            SignalAdapter.create(RELAY_S, urls[RELAY_S], **FAST),
            store=tmp_path / "relay.db",
        )
        alice_client = Client(adapter_for(alice_user, tmp_path / "alice"))
        bob_client = Client(SignalAdapter.create(BOB_S, urls[BOB_S], **FAST))
        async with relay_client, alice_client, bob_client:
            room = await relay_client.create_conversation(
                "matrix", name="bridge", members=[alice_m], encrypted=True
            )
            await joined(alice_client, room.address)
            alice, bob = EventWaiter(alice_client, 20), EventWaiter(bob_client, 20)
            bot = Bot(relay_client, contacts=people)
            bot.relay(room.address, group_address)
            async with bot:
                # Matrix -> Signal, and everything that follows an original.
                sent = await alice_client.send(room.address, "hello from matrix")
                copy = await bob.next(unimsg.MessageReceived, lambda e: "hello from" in e.text)
                assert copy.text == "Alice: hello from matrix"
                assert copy.conversation == group_address

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

                await alice_client.delete(sent)
                deleted = await bob.next(unimsg.MessageDeleted)
                assert deleted.target.id == copy.id

                # Signal -> Matrix.
                original = await bob_client.send(group_address, "hello from signal")
                mirrored = await alice.next(
                    unimsg.MessageReceived, lambda e: "hello from signal" in e.text
                )
                assert mirrored.text == "Bob: hello from signal"

                await alice_client.reply(mirrored, "reply from matrix")
                back = await bob.next(unimsg.MessageReceived, lambda e: "reply from" in e.text)
                assert back.text == "Alice: reply from matrix"
                assert back.reply_to is not None and back.reply_to.id == original.id

                await alice_client.react(mirrored, "🎉")
                signal_reaction = await bob.next(unimsg.ReactionReceived)
                assert signal_reaction.emoji == "🎉"
                assert signal_reaction.target.id == original.id

                await bob_client.edit(original, "hello from signal, edited")
                matrix_edit = await alice.next(unimsg.MessageEdited)
                assert matrix_edit.target.id == mirrored.id and "edited" in matrix_edit.text

                await bob_client.delete(original)
                matrix_delete = await alice.next(unimsg.MessageDeleted)
                assert matrix_delete.target.id == mirrored.id
