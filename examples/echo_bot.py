"""A bot that echoes what it is told and answers ``!ping``, on every network of its client.

python examples/echo_bot.py                        # a scripted chat on the fake network
python examples/echo_bot.py --config unimsg.toml   # serve until Ctrl-C
"""

from __future__ import annotations

import argparse

import anyio

import unimsg
from unimsg import Bot, Context, MessageReceived, load_config
from unimsg.testing import EventWaiter, FakeNetwork


def echo_bot(client: unimsg.Client) -> Bot:
    bot = Bot(client, prefix="!")

    @bot.command("ping")
    async def ping(ctx: Context[MessageReceived]) -> None:
        await ctx.reply("pong")

    @bot.on_message()
    async def echo(ctx: Context[MessageReceived]) -> None:
        await ctx.reply(f"echo: {ctx.event.text}", quote=False)

    return bot


async def on_the_fake_network() -> None:
    net = FakeNetwork()
    me = net.adapter("signal", "signal:+15550000100")
    alice = net.adapter("signal", "signal:+15550000001")
    async with unimsg.Client(me) as client, unimsg.Client(alice) as phone, echo_bot(client):
        inbox = EventWaiter(phone, timeout=3)
        for text in ("hello", "!ping", "!nope"):
            await phone.send(me.account, text)
            answer = await inbox.next(MessageReceived)
            print(f"alice: {text!r:10} bot: {answer.text!r}")


async def with_config(path: str) -> None:
    config = load_config(path)
    async with config.client() as client:
        print("echo bot running; Ctrl-C to stop")
        await echo_bot(client).run()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="a unimsg.toml; without it, run on the fake network")
    args = parser.parse_args()
    if args.config is None:
        anyio.run(on_the_fake_network)
    else:
        anyio.run(with_config, args.config)


if __name__ == "__main__":
    main()
