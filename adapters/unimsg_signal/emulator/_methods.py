"""Method registry, account selection, and the account/receive methods.

Selection follows ``SignalJsonRpcCommandHandler``: in multi-account mode a
per-account method takes ``account`` (number or ACI, removed before the
method runs), falls back to the only account, or fails with ``-32602``.
Sending methods live in :mod:`._send`, group methods in :mod:`._groups`,
the other per-account methods in :mod:`._accounts`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio
import attrs

from ._network import Account
from ._params import (
    INVALID_PARAMS,
    INVALID_REQUEST,
    IO_ERROR,
    METHOD_NOT_FOUND,
    Params,
    RpcError,
    check_recipient,
    null_pointer,
    user_error,
)

if TYPE_CHECKING:
    from ._daemon import Daemon
    from ._network import EmulatedNetwork
    from ._rpc import Session


@attrs.define
class Call:
    """Everything a method implementation sees."""

    session: Session
    account: Account | None
    params: Params
    raw: Any

    @property
    def daemon(self) -> Daemon:
        return self.session.daemon

    @property
    def network(self) -> EmulatedNetwork:
        return self.session.daemon.network

    @property
    def me(self) -> Account:
        assert self.account is not None
        return self.account

    def resolve(self, text: str) -> Account | None:
        return self.network.find(check_recipient(text))


Impl = Callable[[Call], Awaitable[Any]]


@attrs.frozen
class Method:
    impl: Impl
    single: bool = True  # JsonRpcSingleCommand: acts on one account
    multi: bool = False  # JsonRpcMultiCommand: acts on the whole daemon
    socket_only: bool = False  # missing from the HTTP command table
    strict: tuple[str, ...] | None = None  # typed params record: unknown keys fail
    any_params: bool = False  # params may be an array


METHODS: dict[str, Method] = {}


def method(name: str, **options: Any) -> Callable[[Impl], Impl]:
    def register(impl: Impl) -> Impl:
        METHODS[name] = Method(impl, **options)
        return impl

    return register


def _account_param(session: Session, params: Any) -> Account | None:
    if not isinstance(params, dict) or params.get("account") is None:
        return None
    ident = params.pop("account")
    account = session.daemon.lookup(ident if isinstance(ident, str) else str(ident))
    if account is None:
        raise RpcError(INVALID_PARAMS, "Specified account does not exist")
    return account


async def call(session: Session, name: str, params: Any) -> Any:
    """Run one request; raises :class:`RpcError`."""
    spec = METHODS.get(name)
    daemon = session.daemon
    if spec is None or (spec.socket_only and session.transport == "http"):
        raise RpcError(METHOD_NOT_FOUND, "Method not implemented")
    if not spec.single and not daemon.multi_account:
        raise RpcError(METHOD_NOT_FOUND, "Method not implemented")
    params = dict(params) if isinstance(params, dict) else params
    account: Account | None = None
    if daemon.multi_account:
        if spec.single:
            account = _account_param(session, params)
        if account is None and not spec.multi:
            if len(daemon.accounts) != 1:
                raise RpcError(INVALID_PARAMS, "Method requires valid account parameter")
            account = daemon.accounts[0]
    elif spec.single:
        account = daemon.account
    fault = daemon.network.faults.take_method_failure(name)
    if fault is not None:
        raise RpcError(fault.code, fault.message, fault.data)
    if isinstance(params, list) and not spec.any_params:
        raise RpcError(
            INVALID_REQUEST,
            "Cannot deserialize value of type `java.util.LinkedHashMap<java.lang.String,"
            "java.lang.Object>` from Array value (token `JsonToken.START_ARRAY`)",
        )
    if spec.strict is not None and isinstance(params, dict):
        unknown = sorted(set(params) - set(spec.strict))
        if unknown:
            known = ", ".join(f'"{k}"' for k in sorted(spec.strict))
            cls = name[0].upper() + name[1:]
            record = f"org.asamk.signal.commands.{cls}Command${cls}Params"
            raise RpcError(
                INVALID_REQUEST,
                f'Unrecognized field "{unknown[0]}" (class {record}), not marked as '
                f"ignorable ({len(spec.strict)} known properties: {known}])\n"
                " at [Source: UNKNOWN; byte offset: #UNKNOWN] (through reference chain: "
                f'{record}["{unknown[0]}"])',
            )
    raw = params
    return await spec.impl(
        Call(session, account, Params(params if isinstance(params, dict) else {}), raw)
    )


# -- daemon-level methods -------------------------------------------------------------


@method("version", multi=True)
async def version(c: Call) -> Any:
    return {"version": c.daemon.version}


@method("listAccounts", single=False, multi=True)
async def list_accounts(c: Call) -> Any:
    return [{"number": a.number} for a in c.daemon.accounts]


@method("register", single=False, multi=True)
@method("verify", single=False, multi=True)
async def registration(c: Call) -> Any:
    """Multi-account registration: the daemon checks the account, then asks the service."""
    if c.params.get("account") is None:
        raise RpcError(INVALID_PARAMS, "Method requires account parameter")
    raise RpcError(IO_ERROR, "Failed to register: the emulator has no Signal service to ask")


@method("subscribeReceive", multi=True, socket_only=True)
async def subscribe_receive(c: Call) -> Any:
    accounts = [c.account] if c.account is not None else list(c.daemon.accounts)
    return c.session.subscribe(accounts, wrapped=True)


@method("unsubscribeReceive", multi=True, socket_only=True, any_params=True)
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


@method("receive", strict=("timeout", "maxMessages"))
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


from . import _accounts as _accounts  # noqa: E402  (these modules register methods)
from . import _groups as _groups  # noqa: E402
from . import _send as _send  # noqa: E402
