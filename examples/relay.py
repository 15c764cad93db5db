"""Mirror a Matrix room and a Signal group both ways.

    python examples/relay.py       # a scripted conversation on the fake network
    python examples/relay.py --config unimsg.toml \\
        --matrix 'matrix:!ops:example.org' --signal 'signal:group:<base64 id>' \\
        --store ~/.local/state/unimsg/relay.sqlite

Senders are named by the configuration's contacts. An end-to-end encrypted
side is never mirrored into a plaintext one unless --allow-downgrade.
"""

from __future__ import annotations

import argparse

import anyio

import unimsg
from unimsg import Client, Contact, ContactBook, MessageReceived, Relay, load_config
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
    async with (
        Client(relay_m, relay_s) as client,
        Relay(client, room, group, contacts=people),
        Client(alice) as a,
        Client(bob) as b,
    ):
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
        relay = Relay(
            client,
            args.matrix,
            args.signal,
            store=args.store,
            allow_downgrade=args.allow_downgrade,
            contacts=config.contacts,
        )
        print(f"relaying {relay.name}; Ctrl-C to stop")
        await relay.run()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="a unimsg.toml; without it, run on the fake network")
    parser.add_argument("--matrix", help="the Matrix room, e.g. 'matrix:!ops:example.org'")
    parser.add_argument("--signal", help="the Signal group, 'signal:group:<base64 id>'")
    parser.add_argument("--store", default="relay.sqlite", help="the id map (SQLite file)")
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
