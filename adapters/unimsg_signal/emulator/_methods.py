"""The emulator's method table, account selection, and dispatch.

Selection follows ``SignalJsonRpcCommandHandler``: in multi-account mode a
per-account method takes ``account`` (number or ACI, removed before the
method runs), falls back to the only account, or fails with ``-32602``.
The implementations live in :mod:`._receiving` (daemon-level and receive),
:mod:`._send`, :mod:`._groups` and :mod:`._accounts`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import _accounts, _groups, _receiving, _send
from ._call import Call, Method
from ._network import Account
from ._params import INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, Params, RpcError

if TYPE_CHECKING:
    from ._rpc import Session

METHODS: dict[str, Method] = {
    "version": Method(_receiving.version, multi=True),
    "listAccounts": Method(_receiving.list_accounts, single=False, multi=True),
    "register": Method(_receiving.registration, single=False, multi=True),
    "verify": Method(_receiving.registration, single=False, multi=True),
    "subscribeReceive": Method(_receiving.subscribe_receive, multi=True, socket_only=True),
    "unsubscribeReceive": Method(
        _receiving.unsubscribe_receive, multi=True, socket_only=True, any_params=True
    ),
    "receive": Method(_receiving.receive, strict=("timeout", "maxMessages")),
    "listContacts": Method(_accounts.list_contacts),
    "listIdentities": Method(_accounts.list_identities),
    "trust": Method(_accounts.trust),
    "getUserStatus": Method(_accounts.get_user_status),
    "updateProfile": Method(_accounts.update_profile),
    "updateConfiguration": Method(_accounts.update_configuration),
    "updateContact": Method(_accounts.update_contact),
    "block": Method(_accounts.block),
    "unblock": Method(_accounts.unblock),
    "getAttachment": Method(_accounts.get_attachment),
    "sendSyncRequest": Method(_accounts.send_sync_request),
    "listDevices": Method(_accounts.list_devices),
    "submitRateLimitChallenge": Method(_accounts.submit_rate_limit_challenge),
    "listGroups": Method(_groups.list_groups),
    "updateGroup": Method(_groups.update_group),
    "quitGroup": Method(_groups.quit_group),
    "joinGroup": Method(_groups.join_group),
    "send": Method(_send.send),
    "sendReaction": Method(_send.send_reaction),
    "remoteDelete": Method(_send.remote_delete),
    "sendTyping": Method(_send.send_typing),
    "sendReceipt": Method(_send.send_receipt),
}


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
