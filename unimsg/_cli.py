"""The ``unimsg`` command: demo, send, listen, conversations, adapters."""

from __future__ import annotations

import argparse
import enum
import json
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import attrs

from ._address import Address
from ._events import Event
from ._exceptions import UnimsgError

__all__ = ["main", "to_json"]


def _plain(value: Any) -> Any:
    if isinstance(value, Address):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, bytes | Path):
        return None if isinstance(value, bytes) else str(value)
    if attrs.has(type(value)):
        return {
            f.name: _plain(getattr(value, f.name))
            for f in attrs.fields(type(value))
            if f.repr is not False
        }
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def to_json(event: Event) -> str:
    """One event as a JSON line (the raw payload left out)."""
    return json.dumps({"type": type(event).__name__, **_plain(event)}, ensure_ascii=False)


async def _send(args: argparse.Namespace) -> None:
    from ._config import load_config

    config = load_config(args.config)
    async with config.client() as client:
        sent = await client.send(
            config.target(args.address), args.text, format="markdown" if args.markdown else "plain"
        )
    print(json.dumps(_plain(sent), ensure_ascii=False))


async def _listen(args: argparse.Namespace) -> None:
    from ._config import load_config

    config = load_config(args.config)
    seen = 0
    async with config.client() as client:
        async for event in client.events():
            print(to_json(event), flush=True)
            seen += 1
            if args.count and seen >= args.count:
                break


async def _conversations(args: argparse.Namespace) -> None:
    from ._config import load_config

    config = load_config(args.config)
    async with config.client() as client:
        for conversation in await client.conversations():
            print(json.dumps(_plain(conversation), ensure_ascii=False))


async def _status(args: argparse.Namespace) -> None:
    from ._config import load_config
    from ._sqlite import SqliteStore

    config = load_config(args.config)
    if config.store is None:
        print(json.dumps({"store": None, "note": "no [client] store: memory only, per process"}))
        return
    store = config.store if not isinstance(config.store, Path) else SqliteStore(config.store)
    await store.open()
    try:
        status = {
            "store": repr(store),
            "outbox_depth": await store.outbox_size(),
            # The holder of each reader lease is the active process; the others stand by.
            "readers": [
                {"lease": i.name, "active": i.holder, "age": round(i.age, 1),
                 "expires_in": round(i.left, 1)}
                for i in await store.leases()
            ],
        }  # fmt: skip
    finally:
        await store.close()
    print(json.dumps(status, ensure_ascii=False))


async def _demo(args: argparse.Namespace) -> None:
    from ._demo import run_demo

    await run_demo()


def _adapters(args: argparse.Namespace) -> None:
    from ._registry import adapter_names

    for name in adapter_names():
        print(name)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="unimsg", description="One messaging API over Signal, Matrix and a fake network."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="run a hybrid bot on the in-memory fake network")
    config_help = "TOML configuration (default: $UNIMSG_CONFIG, then ./unimsg.toml)"
    send = sub.add_parser("send", help="send one message")
    send.add_argument("address", help="an address (signal:+1555...) or a contact name")
    send.add_argument("text")
    send.add_argument("--markdown", action="store_true", help="render TEXT as markdown")
    send.add_argument("--config", help=config_help)
    listen = sub.add_parser("listen", help="print incoming events as JSON lines")
    listen.add_argument("--count", type=int, default=0, help="stop after N events")
    listen.add_argument("--config", help=config_help)
    conversations = sub.add_parser("conversations", help="list conversations as JSON lines")
    conversations.add_argument("--config", help=config_help)
    status = sub.add_parser(
        "status", help="the shared store: outbox depth, and which process reads each account"
    )
    status.add_argument("--config", help=config_help)
    sub.add_parser("adapters", help="list installed adapters")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    commands = {
        "demo": _demo,
        "send": _send,
        "listen": _listen,
        "conversations": _conversations,
        "status": _status,
    }
    try:
        if args.command == "adapters":
            _adapters(args)
        else:
            anyio.run(commands[args.command], args)
    except UnimsgError as exc:
        print(f"unimsg: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
