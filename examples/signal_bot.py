"""An echo and command bot on Signal.

    python examples/signal_bot.py                     # against an in-process signal-cli emulator
    python examples/signal_bot.py --config bot.toml   # against a real signal-cli daemon

The configuration file is unimsg's (docs/configuration.md), e.g.::

    [[adapters]]
    type = "signal"
    account = "+15551234567"
    url = "tcp://127.0.0.1:7583"   # signal-cli -a +15551234567 daemon --tcp --receive-mode=manual

Commands: ``/help``, ``/time``, ``/timer SECONDS`` (disappearing messages, 0 = off),
``/safety`` (encryption state); anything else is echoed back.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio

from unimsg import Client, MessageReceived, UnimsgError, load_config

HELP = "/help, /time, /timer SECONDS, /safety; anything else comes back to you"


async def answer(client: Client, event: MessageReceived) -> str | None:
    words = event.text.split()
    if not words:
        return None
    command, args = words[0].lower(), words[1:]
    if command == "/help":
        return HELP
    if command == "/time":
        return datetime.now(UTC).isoformat(timespec="seconds")
    if command == "/timer":
        seconds = int(args[0]) if args and args[0].isdigit() else 0
        await client.set_disappearing(event.conversation, timedelta(seconds=seconds) or None)
        return f"messages here now disappear after {seconds}s" if seconds else "timer off"
    if command == "/safety":
        state = await client.encryption_state(event.conversation)
        verdict = "verified" if state.trusted else "not verified"
        return f"encrypted with {state.scheme}; safety numbers {verdict}"
    return f"echo: {event.text}"


async def serve(client: Client, *, limit: int | None = None) -> None:
    """Answer incoming messages (``limit`` of them, or forever)."""
    handled = 0
    async for event in client.events():
        if not isinstance(event, MessageReceived) or event.from_self:
            continue
        try:
            reply = await answer(client, event)
            if reply:
                await client.reply(event, reply)
        except UnimsgError as exc:  # one bad request must not stop the bot
            print(f"could not answer {event.sender}: {exc}")
        handled += 1
        if limit is not None and handled >= limit:
            return


async def demo() -> None:
    """The bot and a scripted user on an emulated Signal network."""
    from unimsg_signal import SignalAdapter
    from unimsg_signal.emulator import Daemon, EmulatedNetwork, ReceiveMode, serve_tcp

    network = EmulatedNetwork()
    bot_number, user_number = "+15550000001", "+15550000002"
    network.register(bot_number, given_name="Bot")
    user = network.register(user_number, given_name="User")
    replies = anyio.create_memory_object_stream[str](16)

    def user_phone(payload: dict[str, Any]) -> None:
        text = ((payload.get("envelope") or {}).get("dataMessage") or {}).get("message")
        if text:
            replies[0].send_nowait(text)

    network.attach(user, user_phone)
    script = ["hello there", "/help", "/timer 3600", "/safety"]
    async with (
        Daemon(network, [bot_number], receive_mode=ReceiveMode.MANUAL) as daemon,
        serve_tcp(daemon) as server,
    ):
        adapter = SignalAdapter.create(bot_number, f"tcp://127.0.0.1:{server.port}")
        async with Client(adapter) as client, anyio.create_task_group() as tg:
            tg.start_soon(lambda: serve(client, limit=len(script)))
            for text in script:
                print(f"user > {text}")
                network.send_text(user, bot_number, text)
                with anyio.fail_after(5):
                    print(f"bot  > {await replies[1].receive()}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="unimsg TOML file with a signal adapter")
    args = parser.parse_args()
    if args.config is None:
        await demo()
        return
    async with load_config(args.config).client() as client:
        print("bot running; Ctrl-C to stop")
        await serve(client)


if __name__ == "__main__":
    anyio.run(main)
