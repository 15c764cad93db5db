"""Mirror a Matrix room and a Signal group both ways.

    python examples/relay.py       # a scripted conversation on the fake network
    python examples/relay.py --config unimsg.toml \\
        --matrix 'matrix:!ops:example.org' --signal 'signal:group:<base64 id>'

A relay is a handler a bot hosts: the bot reads the client's events and
hands those of the two conversations to the relay. Senders are named by the
configuration's contacts. The id map lives in the client's store: set
``[client] store = "relay.sqlite"`` in the configuration so that it lasts.
An end-to-end encrypted side is never mirrored into a plaintext one unless
--allow-downgrade.
"""

from __future__ import annotations

import argparse

import anyio

import unimsg
from unimsg import Bot, Client, Contact, ContactBook, MessageReceived, load_config
from unimsg.testing import EventWaiter, FakeNetwork


async def on_the_fake_network() -> None:
    net = FakeNetwork()
    relay_m = net.adapter("matrix", "matrix:@relay:fake.test")
    relay_s = net.adapter("signal", "signal:+15550000100")
    alice = net.adapter("matrix", "matrix:@alice:fake.test")
    bob = net.adapter("signal", "signal:+15550000002")
    room = net.create_room("matrix", creator=relay_m.account, members=[alice.account])
    group = net.create_room("signal", creator=relay_s.account, members=[bob.account])
    people = ContactBook.of(Contact.of("Alice", alice.account), Contact.of("Bob", bob.account))
    async with Client(relay_m, relay_s) as client, Client(alice) as a, Client(bob) as b:
        bot = Bot(client, contacts=people)
        bot.relay(room, group)
        await run_scripted(bot, a, b, room)


async def run_scripted(bot: Bot, a: Client, b: Client, room: unimsg.Address) -> None:
    async with bot:
        alice_inbox, bob_inbox = EventWaiter(a, timeout=3), EventWaiter(b, timeout=3)
        await a.send(room, "standup in 5?")
        copy = await bob_inbox.next(MessageReceived)
        print(f"Signal group sees: {copy.text!r}")
        await b.reply(copy, "on my way")
        answer = await alice_inbox.next(MessageReceived)
        quoted = "a reply to her message" if answer.reply_to else "a new message"
        print(f"Matrix room sees:  {answer.text!r} ({quoted})")
        await b.react(copy, "👍")
        reaction = await alice_inbox.next(unimsg.ReactionReceived)
        print(f"Matrix room sees:  a {reaction.emoji} reaction on Alice's message")


async def with_config(args: argparse.Namespace) -> None:
    config = load_config(args.config)
    async with config.client() as client:
        bot = Bot(client, contacts=config.contacts)
        relay = bot.relay(args.matrix, args.signal, allow_downgrade=args.allow_downgrade)
        print(f"relaying {relay.name}; Ctrl-C to stop")
        await bot.run()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="a unimsg.toml; without it, run on the fake network")
    parser.add_argument("--matrix", help="the Matrix room, e.g. 'matrix:!ops:example.org'")
    parser.add_argument("--signal", help="the Signal group, 'signal:group:<base64 id>'")
    parser.add_argument("--allow-downgrade", action="store_true")
    args = parser.parse_args()
    if args.config is None:
        anyio.run(on_the_fake_network)
    elif not (args.matrix and args.signal):
        parser.error("with --config, give --matrix and --signal")
    else:
        anyio.run(with_config, args)


if __name__ == "__main__":
    main()
