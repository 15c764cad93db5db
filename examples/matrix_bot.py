"""An echo and command bot for one Matrix account.

    MATRIX_PASSWORD=... python examples/matrix_bot.py bot.toml

bot.toml holds a ``[matrix]`` table (or a unimsg.toml ``[[adapters]]`` table
with ``type = "matrix"``); the password comes from the environment::

    [matrix]
    homeserver = "https://matrix.example.org"
    user_id = "@echo-bot:example.org"
    password_env = "MATRIX_PASSWORD"
    store_path = "~/.local/state/echo-bot"   # keep it: device, keys, sync position
    invite_policy = "always"                 # or ["@you:example.org"] to only join for you

Commands: ``!ping``, ``!echo <text>``, ``!e2e`` (this room's encryption),
``!help``. In a direct chat, anything else is echoed back.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tomllib
from pathlib import Path
from typing import Any

import anyio
from unimsg_matrix import MatrixAdapter

from unimsg import Client, MessageReceived, UnimsgError

HELP = "commands: !ping, !echo <text>, !e2e, !help"


def matrix_table(path: Path) -> dict[str, Any]:
    data = tomllib.loads(path.read_text())
    if isinstance(data.get("matrix"), dict):
        return dict(data["matrix"])
    for table in data.get("adapters", []):
        if table.get("type") == "matrix":
            return dict(table)
    raise SystemExit(f"{path} has no [matrix] table and no [[adapters]] table of type 'matrix'")


async def answer(client: Client, event: MessageReceived) -> None:
    text = event.text.strip()
    command, _, rest = text.partition(" ")
    if command == "!ping":
        await client.reply(event, "pong")
    elif command == "!echo":
        await client.reply(event, rest or "(nothing to echo)", quote=False)
    elif command == "!e2e":
        state = await client.encryption_state(event.conversation)
        if not state.encrypted:
            await client.reply(
                event, "this room is **not** end-to-end encrypted", format="markdown"
            )
        else:
            unverified = ", ".join(a.id for a in state.unverified) or "nobody"
            await client.reply(
                event,
                f"encrypted with `{state.scheme}`; unverified devices: {unverified}",
                format="markdown",
            )
    elif command == "!help":
        await client.reply(event, HELP)
    elif (await client.conversation(event.conversation)).direct:
        await client.reply(event, f"echo: {text}", quote=False)


async def serve(config: Path) -> None:
    adapter = MatrixAdapter.from_config(matrix_table(config), base_dir=config.parent)
    async with Client(adapter) as client:
        print(
            f"{adapter.account} is listening (device {adapter.device_id}); Ctrl-C to stop",
            flush=True,
        )
        async for event in client.events():
            if not isinstance(event, MessageReceived) or event.from_self:
                continue
            try:
                await answer(client, event)
            except UnimsgError as exc:
                # One failed answer (a refused room, an untrusted device) must not stop the bot.
                logging.warning("could not answer %s: %s", event.id, exc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path, help="TOML file with a [matrix] table")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG")
    args = parser.parse_args()
    # matrix-nio is chatty at INFO; show its warnings only unless asked.
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING)
    try:
        # matrix-nio runs on asyncio only.
        anyio.run(serve, args.config, backend="asyncio")
    except KeyboardInterrupt:
        pass
    except UnimsgError as exc:
        sys.exit(f"matrix_bot: {exc}")


if __name__ == "__main__":
    main()
