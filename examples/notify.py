"""Send one message through the routes: people to Signal, teams to Matrix.

    python examples/notify.py                                      # fake network
    python examples/notify.py --config unimsg.toml alice "api-7 deploy failed"

The target is a contact name from the configuration or an address.
"""

from __future__ import annotations

import argparse

import anyio

import unimsg
from unimsg import load_config
from unimsg.testing import FakeNetwork

ROUTES = [
    unimsg.Route(match="person", via="signal"),
    unimsg.Route(match="group", via="matrix"),
    unimsg.Route(via="matrix"),
]


async def on_the_fake_network() -> None:
    net = FakeNetwork()
    signal = net.adapter("signal", "signal:+15550000100")
    matrix = net.adapter("matrix", "matrix:@bot:fake.test")
    net.adapter("signal", "signal:+15550000001")
    alice = unimsg.Contact.of("alice", "signal:+15550000001", "matrix:@alice:fake.test")
    async with unimsg.Client(signal, matrix, routes=ROUTES) as client:
        sent = await client.send(alice, "api-7 deploy failed")
        print(f"notified {alice.name} at {sent.conversation} (message {sent.id})")


async def with_config(path: str, target: str, text: str) -> None:
    config = load_config(path)
    async with config.client() as client:
        sent = await client.send(config.target(target), text)
        print(f"notified {target} at {sent.conversation} (message {sent.id})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="a unimsg.toml; without it, run on the fake network")
    parser.add_argument("target", nargs="?", help="contact name or address")
    parser.add_argument("text", nargs="?", default="hello from unimsg")
    args = parser.parse_args()
    if args.config is None:
        anyio.run(on_the_fake_network)
    elif args.target is None:
        parser.error("with --config, name a target")
    else:
        anyio.run(with_config, args.config, args.target, args.text)


if __name__ == "__main__":
    main()
