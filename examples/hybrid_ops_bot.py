"""The hybrid ops bot: people are paged over Signal, the team room on Matrix gets summaries.

    python examples/hybrid_ops_bot.py        # on the in-memory fake network, narrated
    python examples/hybrid_ops_bot.py --config unimsg.toml --team ops \\
        --page alice --incident api-7 --text "Deploy of api-7 failed."

`OpsBot` is a small `unimsg.Bot`: it pages people (over Signal, by the
routes), posts summaries to the team (a Matrix room) and lets the paged
person take the incident with ``!ack``, answering over whichever network the
command came from. Without a configuration, `run_demo` plays a whole
incident on the fake network (this is what ``unimsg demo`` runs). With one,
the bot pages the named contact, tells the team contact, then serves
``!ack INCIDENT`` and ``!status`` until Ctrl-C.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import anyio

from unimsg import (
    Bot,
    Client,
    Contact,
    ContactBook,
    Context,
    EncryptionRequiredError,
    MessageReceived,
    Route,
    SentMessage,
    load_config,
)
from unimsg.testing import EventWaiter, FakeNetwork

BOT_SIGNAL = "signal:+15550000100"
BOT_MATRIX = "matrix:@opsbot:fake.test"

#: People go to Signal, teams go to Matrix, anything else to Matrix.
ROUTES = (
    Route(match="person", via="signal"),
    Route(match="group", via="matrix"),
    Route(via="matrix"),
)


class OpsBot:
    """Pages people, keeps the team informed, takes ``!ack`` and ``!status``."""

    def __init__(self, client: Client, *, team: Contact, contacts: ContactBook) -> None:
        self.client = client
        self.team = team
        self.bot = Bot(client, contacts=contacts)
        #: Incident -> who was paged, and who took it once someone did.
        self.paged: dict[str, Contact] = {}
        self.owner: dict[str, str] = {}
        self.bot.command("ack")(self._ack)
        self.bot.command("status")(self._status)

    async def page(self, person: Contact, incident: str, text: str) -> SentMessage:
        self.paged[incident] = person
        return await self.client.send(person, f"{text} Reply '!ack {incident}' to take it.")

    async def tell_team(self, text: str) -> SentMessage:
        return await self.client.send(self.team, text, format="markdown")

    async def _ack(self, ctx: Context[MessageReceived]) -> None:
        open_ = [i for i in self.paged if i not in self.owner]
        incident = ctx.args[0] if ctx.args else (open_[-1] if open_ else None)
        if incident is None or incident not in self.paged:
            await ctx.reply(f"no open incident {incident or ''}".strip())
            return
        who = ctx.contact.name if ctx.contact else ctx.sender.id
        self.owner[incident] = who
        await ctx.reply(f"Thanks {who}, the incident {incident} is yours.")
        await self.tell_team(f"{who} acknowledged the **{incident}** incident.")

    async def _status(self, ctx: Context[MessageReceived]) -> None:
        lines = [f"{i}: {self.owner.get(i, 'unacknowledged')}" for i in self.paged]
        await ctx.reply("\n".join(lines) or "no incidents")


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
    book = ContactBook.of(alice, bob, team)

    say("unimsg demo: a hybrid ops bot on the in-memory fake network (no servers)")
    say("routes: " + "; ".join(r.describe() for r in ROUTES))
    async with (
        Client(bot_signal, bot_matrix, routes=ROUTES) as client,
        Client(alice_phone) as alice_client,
        Client(bob_matrix) as bob_client,
    ):
        ops = OpsBot(client, team=team, contacts=book)
        alice_inbox = EventWaiter(alice_client, timeout=5)
        bob_inbox = EventWaiter(bob_client, timeout=5)

        sent = await ops.page(alice, "api-7", "Deploy of api-7 failed.")
        say(
            f"\n[person]  bot -> {alice.name}: routed to {sent.conversation} (Signal, person route)"
        )
        got = await alice_inbox.next(MessageReceived)
        say(f"          {alice.name}'s phone got: {got.text!r} (encrypted: {got.encrypted})")

        sent = await ops.tell_team("**api-7** deploy failed; Alice is paged.")
        say(f"\n[team]    bot -> {team.name}: routed to {sent.conversation} (Matrix, group route)")
        got = await bob_inbox.next(MessageReceived, lambda e: e.conversation == team_room)
        say(f"          Bob sees in the team room: {got.text!r} html={got.html!r}")

        sent = await client.send(bob, "FYI: you are on call next week.")
        state = await client.encryption_state(sent.conversation)
        say(f"\n[person]  bot -> {bob.name} (no Signal identity): a Matrix DM {sent.conversation}")
        say(f"          DM encrypted: {state.encrypted} ({state.scheme})")
        await bob_inbox.next(MessageReceived, lambda e: e.text.startswith("FYI"))

        say(f"\n[policy]  an encrypted-only alert to the plaintext room {lobby}:")
        try:
            await client.send(lobby, "database password rotated", require_encryption=True)
        except EncryptionRequiredError as exc:
            say(f"          refused, nothing sent: {exc}")

        async with ops.bot:
            say(f"\n[bot]     commands: {', '.join('!' + c for c in ops.bot.commands)}")
            await alice_client.send(BOT_SIGNAL, "!ack api-7")
            say(f"[reply]   {alice.name} sends '!ack api-7' over signal from {alice_phone.account}")
            got = await alice_inbox.next(MessageReceived, lambda e: e.reply_to is not None)
            say(f"          bot replies over the same network: {got.conversation}: {got.text!r}")
            quoted = got.reply_to.id if got.reply_to else "?"
            say(f"          Alice's phone shows it as a reply to message {quoted}")
            summary = await bob_inbox.next(MessageReceived, lambda e: "acknowledged" in e.text)
            say(f"          the team room gets the summary: {summary.text!r}")
    say("\ndone: 1 Signal page, 1 Matrix DM, 3 team messages, 1 refused plaintext send, 1 command")


async def with_config(args: argparse.Namespace) -> None:
    config = load_config(args.config)
    async with config.client() as client:
        ops = OpsBot(client, team=config.contacts[args.team], contacts=config.contacts)
        if args.page:
            await ops.page(config.contacts[args.page], args.incident, args.text)
            await ops.tell_team(f"**{args.incident}**: {args.text} {args.page} is paged.")
        print(f"ops bot running ({', '.join('!' + c for c in ops.bot.commands)}); Ctrl-C to stop")
        await ops.bot.run()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="a unimsg.toml; without it, run on the fake network")
    parser.add_argument("--team", default="ops", help="the team's contact name")
    parser.add_argument("--page", help="a person's contact name to page at start")
    parser.add_argument("--incident", default="incident-1")
    parser.add_argument("--text", default="Something needs a human.")
    args = parser.parse_args()
    if args.config is None:
        anyio.run(run_demo)
    else:
        anyio.run(with_config, args)


if __name__ == "__main__":
    main()
