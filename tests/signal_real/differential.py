"""The same JSON-RPC requests to the real daemon and to the emulator, reduced to comparable
outcomes: HTTP status, error code and message, and the shape of a result.

Requests name people by placeholder, resolved per side to the same values: ``$PEER`` (an ACI
both sides know as registered), ``$STRANGER`` (an ACI neither knows), ``$NOBODY`` (a number
nobody has). The real daemon's world is the service stand-in, which knows ``$PEER`` but cannot
deliver to it; so only answers the daemon decides locally are compared.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx

NOBODY = "+15550009999"
STRANGER = "5d1b2a8e-3f4c-4e6a-9b7d-0c1e2f3a4b5c"
TS = 1796000000000
GROUP_V2 = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="  # 32 zero bytes: a group nobody has


@dataclass(frozen=True)
class Case:
    """One request. ``kind``: ``rpc`` (HTTP POST of ``body``), ``http`` (raw ``method`` and
    ``path``, ``headers``, ``raw`` body) or ``line`` (``raw`` lines over TCP)."""

    name: str
    body: Any = None
    kind: str = "rpc"
    method: str = "POST"
    path: str = "/api/v1/rpc"
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    raw: bytes | None = None


def call(method: str, params: dict[str, Any] | None = None, *, account: bool = True) -> Any:
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": 7, "method": method}
    if account or params is not None:
        body["params"] = {**({"account": "$ALICE"} if account else {}), **(params or {})}
    return body


def _rpc_cases() -> list[Case]:
    c = call
    return [
        Case("version", c("version", account=False)),
        Case("listAccounts", c("listAccounts", account=False)),
        Case("unknown method", c("noSuchMethod")),
        Case("missing account (two loaded)", c("listGroups", account=False)),
        Case("unknown account", c("listGroups", {"account": "+15550001234"}, account=False)),
        Case("account by ACI", c("listGroups", {"account": "$ALICE_ACI"}, account=False)),
        Case("listGroups", c("listGroups")),
        Case("listContacts", c("listContacts")),
        Case("listIdentities", c("listIdentities")),
        Case("send: no recipients", c("send", {"message": "x"})),
        Case("send: unknown number", c("send", {"recipient": [NOBODY], "message": "x"})),
        Case("send: number with letters", c("send", {"recipient": ["+12ab"], "message": "x"})),
        Case("send: invalid number", c("send", {"recipient": ["notanumber"], "message": "x"})),
        Case("send: unknown ACI", c("send", {"recipient": [STRANGER], "message": "x"})),
        Case("send: unknown username", c("send", {"username": ["nobody.99"], "message": "x"})),
        Case("send: u: recipient", c("send", {"recipient": ["u:nobody.99"], "message": "x"})),
        Case("send: invalid group id", c("send", {"groupId": "not base64!", "message": "x"})),
        Case("send: unknown group", c("send", {"groupId": GROUP_V2, "message": "x"})),
        Case("send: scalar recipient", c("send", {"recipient": NOBODY, "message": "x"})),
        Case("sendReaction: unknown ACI", c("sendReaction", {
            "recipient": [STRANGER], "emoji": "x", "targetAuthor": STRANGER,
            "targetTimestamp": TS})),
        Case("sendReaction: no targetTimestamp", c("sendReaction", {
            "recipient": [STRANGER], "emoji": "x", "targetAuthor": STRANGER})),
        Case("sendReaction: unknown group", c("sendReaction", {
            "groupId": GROUP_V2, "emoji": "x", "targetAuthor": STRANGER, "targetTimestamp": TS})),
        Case("remoteDelete: unknown number", c("remoteDelete", {
            "recipient": [NOBODY], "targetTimestamp": TS})),
        Case("remoteDelete: no targetTimestamp", c("remoteDelete", {"recipient": [NOBODY]})),
        Case("sendTyping: unknown number", c("sendTyping", {"recipient": [NOBODY]})),
        Case("sendTyping: unknown group", c("sendTyping", {"groupId": GROUP_V2})),
        Case("sendReceipt: unknown number", c("sendReceipt", {
            "recipient": NOBODY, "targetTimestamp": [TS]})),
        Case("updateGroup: create, unknown number", c("updateGroup", {
            "name": "g", "member": [NOBODY]})),
        Case("updateGroup: create, unknown ACI", c("updateGroup", {
            "name": "g", "member": [STRANGER]})),
        Case("updateGroup: unknown group", c("updateGroup", {"groupId": GROUP_V2, "name": "n"})),
        Case("updateGroup: invalid group id", c("updateGroup", {"groupId": "%%%", "name": "n"})),
        Case("quitGroup: unknown group", c("quitGroup", {"groupId": GROUP_V2})),
        Case("joinGroup: invalid link", c("joinGroup", {"uri": "https://signal.group/#bad"})),
        Case("trust: unknown ACI", c("trust", {"recipient": STRANGER, "trustAllKnownKeys": True})),
        Case("trust: known peer", c("trust", {"recipient": "$PEER", "trustAllKnownKeys": True})),
        Case("trust: wrong safety number", c("trust", {
            "recipient": "$PEER", "verifiedSafetyNumber": "12345"})),
        Case("trust: neither option", c("trust", {"recipient": "$PEER"})),
        Case("updateContact: expiration, unknown ACI", c("updateContact", {
            "recipient": STRANGER, "expiration": 60})),
        Case("updateContact: expiration, peer", c("updateContact", {
            "recipient": "$PEER", "expiration": 60})),
        Case("updateContact: unknown number", c("updateContact", {
            "recipient": NOBODY, "expiration": 60})),
        Case("getAttachment: unknown id", c("getAttachment", {"id": "nosuchattachment"})),
        Case("getAttachment: no id", c("getAttachment", {})),
        Case("updateConfiguration", c("updateConfiguration", {"readReceipts": True})),
        Case("subscribeReceive over HTTP", c("subscribeReceive")),
        Case("register without account", c("register", account=False)),
        Case("receive: unknown param", c("receive", {"timeout": 0.1, "bogus": 1})),
        Case("batch", [call("version", account=False), call("noSuchMethod")]),
        Case("empty batch", []),
        Case("notification only", {"jsonrpc": "2.0", "method": "version"}),
        Case("jsonrpc 1.0", {"jsonrpc": "1.0", "id": 1, "method": "version"}),
        Case("no method", {"jsonrpc": "2.0", "id": 1}),
        Case("params null", {"jsonrpc": "2.0", "id": 1, "method": "version", "params": None}),
        Case("number where object expected", 5),
    ]  # fmt: skip


def _http_cases() -> list[Case]:
    version = json.dumps(call("version", account=False)).encode()
    return [
        Case("invalid JSON", kind="http", raw=b"{nope"),
        Case("wrong content type", kind="http", raw=version,
             headers={"Content-Type": "text/plain"}),
        Case("GET on rpc", kind="http", method="GET"),
        Case("unknown path", kind="http", path="/api/v1/rpc/extra", raw=version),
        Case("check", kind="http", method="GET", path="/api/v1/check"),
        Case("foreign Host header", kind="http", raw=version, headers={
            "Content-Type": "application/json", "Host": "example.org"}),
        Case("events: unknown account", kind="http", method="GET",
             path="/api/v1/events?account=%2B15550001234"),
    ]  # fmt: skip


def _line_cases() -> list[Case]:
    return [
        Case("blank line", kind="line", raw=b"\n"),
        Case("invalid JSON line", kind="line", raw=b"{nope\n"),
        Case(
            "subscribeReceive over TCP",
            kind="line",
            raw=json.dumps(call("subscribeReceive")).encode() + b"\n",
        ),
    ]


CASES = _rpc_cases() + _http_cases() + _line_cases()


@dataclass
class Side:
    """Where to send: an HTTP base URL and a TCP port, with placeholder values."""

    name: str
    http: str
    tcp_port: int
    values: dict[str, str]

    def fill(self, value: Any) -> Any:
        if isinstance(value, str):
            for key in sorted(self.values, key=len, reverse=True):
                value = value.replace(key, self.values[key])
            return value
        if isinstance(value, list):
            return [self.fill(v) for v in value]
        if isinstance(value, dict):
            return {k: self.fill(v) for k, v in value.items()}
        return value

    async def run(self, case: Case) -> dict[str, Any]:
        if case.kind == "line":
            return await self._line(self.fill(case.raw.decode()).encode())  # type: ignore[union-attr]
        raw = case.raw if case.kind == "http" else json.dumps(self.fill(case.body)).encode()
        async with httpx.AsyncClient(timeout=60) as client:
            if case.path.startswith("/api/v1/events"):
                async with client.stream("GET", self.http + case.path) as response:
                    return {"status": response.status_code}
            response = await client.request(
                case.method, self.http + case.path, content=raw, headers=case.headers
            )
        outcome: dict[str, Any] = {"status": response.status_code}
        if response.content:
            try:
                outcome["answer"] = reduce(response.json())
            except ValueError:
                outcome["body"] = response.text[:80]
        return outcome

    async def _line(self, raw: bytes) -> dict[str, Any]:
        async with await anyio.connect_tcp("127.0.0.1", self.tcp_port) as stream:
            await stream.send(raw)
            data = b""
            with anyio.fail_after(30):
                while not data.endswith(b"\n"):
                    data += await stream.receive()
        return {"answer": reduce(json.loads(data.splitlines()[0]))}


def reduce(answer: Any) -> Any:
    """What is compared of an answer: error code and message, or the result's shape."""
    if isinstance(answer, list):
        return sorted((reduce(a) for a in answer), key=json.dumps)
    if not isinstance(answer, dict):
        return shape(answer)
    out: dict[str, Any] = {"id": answer.get("id")}
    error = answer.get("error")
    if isinstance(error, dict):
        out["error"] = {"code": error.get("code"), "message": error.get("message")}
        data = error.get("data")
        if data is not None:
            out["error"]["data"] = shape(data)
    else:
        out["result"] = shape(answer.get("result"))
    return out


def shape(value: Any) -> Any:
    """Keys and container structure; a null matches any value (it depends on the world)."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        shapes: list[Any] = []
        for item in map(shape, value):
            if item not in shapes:
                shapes.append(item)
        return ["list", *sorted(shapes, key=lambda s: json.dumps(s, sort_keys=True))]
    if value is None:
        return None
    return type(value).__name__


def same(real: Any, emulated: Any) -> bool:
    """Equal outcomes, where a null or an empty list on either side matches anything."""
    if real is None or emulated is None or real == ["list"] or emulated == ["list"]:
        return True
    if isinstance(real, dict) and isinstance(emulated, dict):
        return real.keys() == emulated.keys() and all(same(real[k], emulated[k]) for k in real)
    if isinstance(real, list) and isinstance(emulated, list):
        if real[:1] == ["list"] and emulated[:1] == ["list"]:
            # Element shapes: each one on either side must match one on the other.
            return all(any(same(r, e) for e in emulated[1:]) for r in real[1:]) and all(
                any(same(r, e) for r in real[1:]) for e in emulated[1:]
            )
        return len(real) == len(emulated) and all(map(same, real, emulated))
    return bool(real == emulated)
