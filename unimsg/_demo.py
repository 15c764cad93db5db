"""``unimsg demo``: a hybrid bot on the fake network, narrated.

People are reached over Signal, the team over Matrix; an encrypted-only
alert refuses a plaintext room; replies go back over the network they came
from. Everything runs in memory: no server, no account.
"""

from __future__ import annotations

from collections.abc import Callable

import anyio

from ._client import Client
from ._events import MessageReceived
from ._exceptions import EncryptionRequiredError
from ._router import Contact, Route
from .testing import FakeNetwork
from .testing._waiting import EventWaiter

BOT_SIGNAL = "signal:+15550000100"
BOT_MATRIX = "matrix:@opsbot:fake.test"

#: People go to Signal, teams go to Matrix, anything else to Matrix.
ROUTES = (
    Route(match="person", via="signal"),
    Route(match="group", via="matrix"),
    Route(via="matrix"),
)


async def run_demo(say: Callable[[str], None] = print) -> None:
    net = FakeNetwork()
    bot_signal = net.adapter("signal", BOT_SIGNAL, display_name="Ops bot")
    bot_matrix = net.adapter("matrix", BOT_MATRIX, display_name="Ops bot")
    alice_phone = net.adapter("signal", "signal:+15550000001", display_name="Alice")
    bob_matrix = net.adapter("matrix", "matrix:@bob:fake.test", display_name="Bob")
    team_room = net.create_room(
        "matrix",
        creator=bot_matrix.account,
        name="ops team",
        members=["matrix:@alice:fake.test", bob_matrix.account],
        encrypted=True,
    )
    lobby = net.create_room(
        "matrix", creator=bot_matrix.account, name="public lobby", encrypted=False
    )
    alice = Contact.of("Alice", "signal:+15550000001", "matrix:@alice:fake.test")
    bob = Contact.of("Bob", "matrix:@bob:fake.test")
    team = Contact.of("ops team", team_room)

    say("unimsg demo: a hybrid bot on the in-memory fake network (no servers)")
    say("routes: " + "; ".join(r.describe() for r in ROUTES))
    async with (
        Client(bot_signal, bot_matrix, routes=ROUTES) as bot,
        Client(alice_phone) as alice_client,
        Client(bob_matrix) as bob_client,
    ):
        alice_inbox = EventWaiter(alice_client, timeout=5)
        bob_inbox = EventWaiter(bob_client, timeout=5)
        bot_inbox = EventWaiter(bot, timeout=5)

        sent = await bot.send(alice, "Deploy of api-7 failed. Reply 'ack' to take it.")
        say(
            f"\n[person]  bot -> {alice.name}: routed to {sent.conversation} (Signal, person route)"
        )
        got = await alice_inbox.next(MessageReceived)
        say(f"          {alice.name}'s phone got: {got.text!r} (encrypted: {got.encrypted})")

        sent = await bot.send(team, "**api-7** deploy failed; Alice is paged.", format="markdown")
        say(f"\n[team]    bot -> {team.name}: routed to {sent.conversation} (Matrix, group route)")
        got = await bob_inbox.next(MessageReceived, lambda e: e.conversation == team_room)
        say(f"          Bob sees in the team room: {got.text!r} html={got.html!r}")

        sent = await bot.send(bob, "FYI: you are on call next week.")
        state = await bot.encryption_state(sent.conversation)
        say(f"\n[person]  bot -> {bob.name} (no Signal identity): a Matrix DM {sent.conversation}")
        say(f"          DM encrypted: {state.encrypted} ({state.scheme})")
        await bob_inbox.next(MessageReceived, lambda e: e.text.startswith("FYI"))

        say(f"\n[policy]  an encrypted-only alert to the plaintext room {lobby}:")
        try:
            await bot.send(lobby, "database password rotated", require_encryption=True)
        except EncryptionRequiredError as exc:
            say(f"          refused, nothing sent: {exc}")

        await alice_client.send(BOT_SIGNAL, "ack")
        ack = await bot_inbox.next(MessageReceived, lambda e: e.text == "ack")
        say(f"\n[reply]   {alice.name} answers {ack.text!r} over {ack.network} from {ack.sender}")
        answer = await bot.reply(ack, "Thanks Alice, the incident is yours.")
        say(f"          bot replies over the same network: {answer.conversation}")
        got = await alice_inbox.next(MessageReceived, lambda e: e.reply_to is not None)
        quoted = got.reply_to.id if got.reply_to else "?"
        say(f"          Alice's phone shows it as a reply to message {quoted}")
        await bot.send(team, "Alice acknowledged the api-7 incident.")
        await bob_inbox.next(MessageReceived, lambda e: e.text.startswith("Alice acknowledged"))
        say("          the team room gets the summary")
    say("\ndone: 1 Signal DM, 1 Matrix DM, 2 team messages, 1 refused plaintext send, 1 reply")


def main() -> None:
    anyio.run(run_demo)
