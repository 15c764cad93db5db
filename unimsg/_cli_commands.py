"""What each ``unimsg`` command does: check first, connect only what is needed, bounded waits."""

from __future__ import annotations

import argparse
import enum
import json
import math
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import attrs

from ._adapter import Adapter
from ._address import Address
from ._client import Client
from ._config import Config, load_config
from ._events import Event
from ._exceptions import InvalidContentError, NoRouteError, UnimsgError, UsageError
from ._router import adapter_name, plan_routes

__all__ = [
    "CommandFailed",
    "adapters",
    "check",
    "conversations",
    "demo",
    "describe",
    "listen",
    "send",
    "status",
    "to_json",
]


class CommandFailed(UnimsgError):
    """Several problems found by a command, each already one line; ``main`` prints them."""

    def __init__(self, lines: Sequence[str]) -> None:
        self.lines = list(lines)
        super().__init__("\n".join(self.lines))


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


def describe(adapter: Adapter) -> str:
    """Where an adapter connects, for progress and error lines (never a secret)."""
    config = getattr(adapter, "config", None)
    homeserver = getattr(config, "homeserver", None)
    url = getattr(config, "url", None)
    if adapter.network == "matrix" and homeserver:
        return f"the Matrix homeserver {homeserver} as {adapter.account.id}"
    if adapter.network == "signal" and url is not None:
        return f"signal-cli at {url} as {adapter.account.id}"
    return f"{adapter.account} ({type(adapter).__name__})"


def _progress(args: argparse.Namespace, message: str) -> None:
    if not args.quiet:
        print(message, file=sys.stderr, flush=True)


class _Deadline:
    """One cancel scope around the whole command, its deadline reset for each phase.

    A scope around ``async with client`` alone would be left while the client's
    task group stays open, which anyio forbids; this one encloses both.
    """

    def __init__(self, scope: anyio.CancelScope, timeout: float) -> None:
        self.scope, self.timeout, self.phase = scope, timeout, ""

    def start(self, phase: str, *, bounded: bool = True) -> None:
        self.phase = phase
        self.scope.deadline = anyio.current_time() + self.timeout if bounded else math.inf


@asynccontextmanager
async def _opened(
    config: Config, chosen: Sequence[Adapter], args: argparse.Namespace
) -> AsyncIterator[tuple[Client, _Deadline]]:
    """A client of ``chosen`` only; every adapter that fails to start named with its endpoint."""
    for adapter in chosen:
        _progress(args, f"connecting to {describe(adapter)} ...")
    failure: UnimsgError | None = None
    with anyio.CancelScope() as scope:
        deadline = _Deadline(scope, args.timeout)
        deadline.start("connecting to " + " and ".join(describe(a) for a in chosen))
        try:
            async with config.client(chosen) as client:
                _progress(args, "connected")
                yield client, deadline
        except UnimsgError as exc:
            if not deadline.phase.startswith("connecting"):
                raise
            if len(chosen) == 1:
                raise CommandFailed(
                    [f"{describe(chosen[0])}: {type(exc).__name__}: {exc}"]
                ) from exc
            failure = exc
    connecting = deadline.phase.startswith("connecting")
    if len(chosen) > 1 and connecting and (failure is not None or scope.cancelled_caught):
        # The first failure stopped the others: each adapter alone, outside the
        # spent deadline, names every one that cannot start.
        raise CommandFailed(await _probe(args, chosen)) from failure
    if scope.cancelled_caught:
        raise CommandFailed([f"no answer within {args.timeout:g}s while {deadline.phase}"])


async def _probe(args: argparse.Namespace, chosen: Sequence[Adapter]) -> list[str]:
    """Start each adapter alone (fresh from the file), all at once, to name every failure."""
    names = [adapter_name(a) for a in chosen]
    fresh = [a for a in load_config(args.config).adapters if adapter_name(a) in names]
    # In the file's order, whichever fails first.
    failures: list[str | None] = [None] * len(fresh)

    async def one(index: int, adapter: Adapter) -> None:
        with anyio.move_on_after(args.timeout) as scope:
            try:
                async with Client(adapter):
                    pass
            except UnimsgError as exc:
                failures[index] = f"{describe(adapter)}: {type(exc).__name__}: {exc}"
        if scope.cancelled_caught:
            failures[index] = f"{describe(adapter)}: no answer within {args.timeout:g}s"

    async with anyio.create_task_group() as tg:
        for index, adapter in enumerate(fresh):
            tg.start_soon(one, index, adapter)
    return [line for line in failures if line] or ["could not start: " + ", ".join(names)]


def _text(args: argparse.Namespace) -> str:
    if args.file is not None:
        if args.text is not None:
            raise UsageError("give the text or --file, not both")
        try:
            text = Path(args.file).read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read --file {args.file}: {exc}") from None
    elif args.text in (None, "-"):
        if args.text is None and sys.stdin.isatty():
            raise UsageError("no text: give TEXT, '-' to read standard input, or --file PATH")
        text = sys.stdin.read()
    else:
        text = args.text
    text = text.removesuffix("\n")
    if not text.strip():
        raise UsageError("the text is empty")
    return text


async def send(args: argparse.Namespace) -> None:
    config = load_config(args.config)
    target = config.target(args.target)
    text = _text(args)
    chosen = config.adapters_for(target)
    limit = chosen[0].max_message_bytes
    size = len(text.encode())
    if limit is not None and size > limit:
        raise InvalidContentError(
            f"the text is {size} bytes; {chosen[0].network} takes at most {limit}: nothing sent"
        )
    async with _opened(config, chosen, args) as (client, deadline):
        deadline.start(f"sending to {args.target}")
        sent = await client.send(target, text, format="markdown" if args.markdown else "plain")
    print(json.dumps(_plain(sent), ensure_ascii=False))


async def listen(args: argparse.Namespace) -> None:
    config = load_config(args.config)
    seen = 0
    async with _opened(config, config.adapters, args) as (client, deadline):
        deadline.start("listening", bounded=False)
        async for event in client.events():
            print(to_json(event), flush=True)
            seen += 1
            if args.count and seen >= args.count:
                break


async def conversations(args: argparse.Namespace) -> None:
    config = load_config(args.config)
    async with _opened(config, config.adapters, args) as (client, deadline):
        deadline.start("listing conversations")
        for conversation in await client.conversations():
            print(json.dumps(_plain(conversation), ensure_ascii=False))


async def status(args: argparse.Namespace) -> None:
    """The shared store: outbox depth, and which process reads each account."""
    from ._sqlite import SqliteStore

    config = load_config(args.config)
    if config.store is None:
        print(json.dumps({"store": None, "note": "no [client] store: memory only, per process"}))
        return
    store = SqliteStore(config.store) if isinstance(config.store, Path) else config.store
    with anyio.move_on_after(args.timeout) as scope:
        await store.open()
    if scope.cancelled_caught:
        raise CommandFailed([f"no answer from the store {store!r} within {args.timeout:g}s"])
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


async def demo(args: argparse.Namespace) -> None:
    from ._demo import run_demo

    await run_demo()


def check(args: argparse.Namespace) -> int:
    """Validate the file, its routes and addresses; connect to nothing."""
    config = load_config(args.config)
    problems = []
    for name, contact in config.contacts.items():
        try:
            plan_routes(contact, config.routes, config.adapters)
        except NoRouteError as exc:
            problems.append(
                f"{config.source}: contacts.{name}: no configured route reaches it ({exc})"
            )
    if problems:
        raise CommandFailed(problems)
    adapters_ = ", ".join(adapter_name(a) for a in config.adapters)
    print(
        f"{config.source}: ok: {len(config.adapters)} adapter(s) ({adapters_}), "
        f"{len(config.routes)} route(s), {len(config.contacts)} contact(s)"
    )
    return 0


def adapters(args: argparse.Namespace) -> int:
    from ._registry import adapter_status

    for status in adapter_status():
        print(f"{status.name:<8} {'usable' if status.usable else 'unusable: ' + status.problem}")
    return 0
