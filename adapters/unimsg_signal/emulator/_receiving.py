"""Daemon-level methods and receiving: version, accounts, subscriptions, ``receive``."""

from __future__ import annotations

from typing import Any

import anyio

from ._call import Call
from ._params import INVALID_PARAMS, IO_ERROR, RpcError, null_pointer, user_error


async def version(c: Call) -> Any:
    return {"version": c.daemon.version}


async def registration(c: Call) -> Any:
    """Multi-account ``register``/``verify``: the daemon checks the account, then asks the
    service, which the emulator does not have."""
    if c.params.get("account") is None:
        raise RpcError(INVALID_PARAMS, "Method requires account parameter")
    raise RpcError(IO_ERROR, "Failed to register: the emulator has no Signal service to ask")


async def list_accounts(c: Call) -> Any:
    return [{"number": a.number} for a in c.daemon.accounts]


async def subscribe_receive(c: Call) -> Any:
    accounts = [c.account] if c.account is not None else list(c.daemon.accounts)
    return c.session.subscribe(accounts, wrapped=True)


async def unsubscribe_receive(c: Call) -> Any:
    raw = c.raw
    sid: int | None = None
    if isinstance(raw, list):
        sid = _as_int(raw[0] if raw else None)
    elif isinstance(raw, dict):
        if raw.get("subscription") is None:
            raise null_pointer()
        sid = _as_int(raw["subscription"])
    if sid is None:
        if c.account is None:
            raise user_error("Missing subscription parameter with subscription id")
        c.session.unsubscribe_account(c.account)
        return {}
    if not c.session.unsubscribe(sid):
        raise user_error("Unknown subscription id")
    return {}


def _as_int(value: Any) -> int:
    """Jackson's ``asInt``: numbers truncate, numeric text parses, the rest is 0."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return int(value)
    try:
        return int(str(value))
    except ValueError:
        return 0


async def receive(c: Call) -> Any:
    timeout = c.params.get("timeout")
    timeout = 3.0 if timeout is None else float(timeout)
    max_messages = c.params.get("maxMessages")
    limit = None if max_messages is None or max_messages < 0 else int(max_messages)
    if c.daemon.is_receiving(c.me):
        raise user_error("Receive command cannot be used if messages are already being received.")
    from ._daemon import Subscriber

    collected: list[Any] = []
    arrived = anyio.Event()

    def deliver(payload: Any) -> None:
        nonlocal arrived
        collected.append(payload)
        arrived.set()
        if limit is not None and len(collected) >= limit:
            # Stop taking messages off the server at once; the rest stays queued.
            c.daemon.remove_handler(c.me, subscriber)

    subscriber = Subscriber(deliver)
    seen = 0
    try:
        c.daemon.add_handler(c.me, subscriber)
        while limit is None or len(collected) < limit:
            if len(collected) > seen:
                seen = len(collected)
                continue
            arrived = anyio.Event()
            with anyio.move_on_after(timeout if timeout >= 0 else None):
                await arrived.wait()
            if len(collected) == seen:
                break
    finally:
        c.daemon.remove_handler(c.me, subscriber)
    return collected
