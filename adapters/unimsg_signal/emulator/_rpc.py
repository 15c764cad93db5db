"""JSON-RPC request handling of one client connection (``JsonRpcReader``).

Transport-independent: a :class:`Session` takes the text of one line (or one
HTTP body) and returns the response value to write, or ``None``. Requests of
a batch run concurrently; the line transports also run lines concurrently.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Literal

import anyio

from . import _methods
from ._daemon import Daemon, Subscriber
from ._network import Account
from ._params import INTERNAL_ERROR, INVALID_REQUEST, PARSE_ERROR, RpcError

Transport = Literal["socket", "stdio", "http"]
_REQUEST_FIELDS = {"jsonrpc", "method", "params", "id"}


def error_response(error: RpcError, rid: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "error": error.to_json(), "id": rid}


def _value_id(node: Any) -> Any:
    """``getId``: the id if it is a scalar, else null."""
    if isinstance(node, dict):
        rid = node.get("id")
        if not isinstance(rid, (dict, list)):
            return rid
    return None


def _check_request(node: Any) -> tuple[str, Any, Any, bool]:
    """Map a JSON node onto ``JsonRpcRequest``; ``(method, params, id, has_id)``."""
    unknown = sorted(set(node) - _REQUEST_FIELDS)
    if unknown:
        raise RpcError(
            INVALID_REQUEST,
            f'Unrecognized field "{unknown[0]}" (class org.asamk.signal.jsonrpc.JsonRpcRequest), '
            'not marked as ignorable (4 known properties: "jsonrpc", "method", "params", "id"])',
        )
    params = node.get("params")
    if params is not None and not isinstance(params, (dict, list)):
        raise RpcError(
            INVALID_REQUEST,
            "Cannot deserialize value of type `com.fasterxml.jackson.databind.node.ContainerNode` "
            "from a scalar value",
        )
    rid = node.get("id")
    if isinstance(rid, (dict, list)):
        raise RpcError(
            INVALID_REQUEST,
            "Cannot deserialize value of type `com.fasterxml.jackson.databind.node.ValueNode` "
            "from a container",
        )
    method = node.get("method")
    if isinstance(method, (dict, list)):
        raise RpcError(INVALID_REQUEST, "Cannot deserialize value of type `java.lang.String`")
    if node.get("jsonrpc") != "2.0":
        raise RpcError(INVALID_REQUEST, "only jsonrpc version 2.0 is supported")
    if method is None:
        raise RpcError(INVALID_REQUEST, "method field must be set")
    text = method if isinstance(method, str) else json.dumps(method)
    return text, params, rid, rid is not None


class Session:
    """Per-connection state: receive subscriptions and request dispatch.

    ``notify`` gets each notification object for the client (socket and
    stdio); it must not block. HTTP sessions have none.
    """

    def __init__(
        self,
        daemon: Daemon,
        transport: Transport,
        notify: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.daemon = daemon
        self.transport = transport
        self.notify = notify
        self.subscriptions: dict[int, list[tuple[Account, Subscriber]]] = {}

    def open(self) -> None:
        """Register the automatic subscription unless receive mode is manual."""
        from ._daemon import ReceiveMode

        if self.notify is not None and self.daemon.receive_mode is not ReceiveMode.MANUAL:
            self.subscribe(self.daemon.accounts, wrapped=False)

    def close(self) -> None:
        for sid in list(self.subscriptions):
            self.unsubscribe(sid)

    def subscribe(self, accounts: list[Account], *, wrapped: bool) -> int:
        sid = self.daemon.next_subscription_id()
        notify = self.notify
        assert notify is not None

        def deliver(payload: dict[str, Any]) -> None:
            params = {"subscription": sid, "result": payload} if wrapped else payload
            notify({"jsonrpc": "2.0", "method": "receive", "params": params})

        pairs = [(account, Subscriber(deliver)) for account in accounts]
        self.subscriptions[sid] = pairs
        for account, subscriber in pairs:
            self.daemon.add_handler(account, subscriber)
        return sid

    def unsubscribe(self, sid: int) -> bool:
        pairs = self.subscriptions.pop(sid, None)
        if pairs is None:
            return False
        for account, subscriber in pairs:
            self.daemon.remove_handler(account, subscriber)
        return True

    def unsubscribe_account(self, account: Account) -> None:
        """Drop the first subscription that covers exactly this one account."""
        for sid, pairs in self.subscriptions.items():
            if len(pairs) == 1 and pairs[0][0] is account:
                self.unsubscribe(sid)
                return

    # -- requests -------------------------------------------------------------------

    async def handle_text(self, text: str) -> Any:
        """The response value (object or array) for one line, or ``None``."""
        if self.transport != "http" and not text.strip():
            return error_response(RpcError(PARSE_ERROR, "Empty input line"), None)
        try:
            node, _ = json.JSONDecoder().raw_decode(text.lstrip())
        except (ValueError, RecursionError) as exc:
            if self.transport == "http" and not text.strip():
                return error_response(RpcError(INVALID_REQUEST, "unexpected type: MISSING"), None)
            return error_response(RpcError(PARSE_ERROR, str(exc)), None)
        if isinstance(node, list):
            if not node:
                return error_response(RpcError(INVALID_REQUEST, "invalid request"), None)
            return await self._batch(node)
        if isinstance(node, dict):
            if "result" in node or "error" in node:
                return None  # a response from the client: signal-cli only logs it
            return await self._single(node)
        kind = {str: "STRING", bool: "BOOLEAN", type(None): "NULL"}.get(type(node), "NUMBER")
        return error_response(RpcError(INVALID_REQUEST, f"unexpected type: {kind}"), None)

    async def _single(self, node: dict[str, Any]) -> Any:
        try:
            method, params, rid, has_id = _check_request(node)
        except RpcError as exc:
            return error_response(exc, _value_id(node))
        try:
            result = await _methods.call(self, method, params)
        except RpcError as exc:
            return error_response(exc, rid) if has_id else None
        except Exception as exc:  # an emulator bug must still look like signal-cli
            error = RpcError(INTERNAL_ERROR, f"{exc} ({type(exc).__name__})")
            return error_response(error, rid) if has_id else None
        return {"jsonrpc": "2.0", "result": result, "id": rid} if has_id else None

    async def _batch(self, nodes: list[Any]) -> Any:
        responses: list[Any] = []

        async def run(node: Any) -> None:
            response = (
                await self._single(node)
                if isinstance(node, dict)
                else error_response(
                    RpcError(INVALID_REQUEST, "Cannot deserialize value of type `JsonRpcRequest`"),
                    None,
                )
            )
            if response is not None:
                responses.append(response)

        async with anyio.create_task_group() as tg:
            for node in nodes:
                tg.start_soon(run, node)
        return responses or None
