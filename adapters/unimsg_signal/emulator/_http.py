"""``daemon --http``: JSON-RPC over HTTP/1.1 and Server-Sent Events.

A small HTTP/1.1 server on anyio streams with keep-alive, following
signal-cli's ``HttpServerHandler``: ``POST /api/v1/rpc``, ``GET
/api/v1/events`` (chunked SSE, ``:`` keep-alives) and ``GET /api/v1/check``,
with its Host-header pinning and status codes.
"""

from __future__ import annotations

import email.utils
import math
import urllib.parse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

import anyio
import anyio.abc
import attrs
from anyio.streams.buffered import BufferedByteReceiveStream

from .._jsonrpc import encode_json
from ._daemon import Daemon, Subscriber
from ._params import INTERNAL_ERROR, RpcError
from ._rpc import Session, error_response
from ._server import ConnectionSet

_REASONS = {
    200: "OK",
    201: "Created",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    411: "Length Required",
    415: "Unsupported Media Type",
    421: "Misdirected Request",
    500: "Internal Server Error",
}
_ERRORS = (
    anyio.EndOfStream,
    anyio.IncompleteRead,
    anyio.DelimiterNotFound,
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    ConnectionError,
    OSError,
)


@attrs.define
class HttpServer:
    """A running HTTP listener; ``url`` is the base, e.g. ``http://127.0.0.1:8080``."""

    daemon: Daemon
    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


@attrs.define
class _Request:
    method: str
    path: str
    query: str
    version: str
    headers: dict[str, str]
    body: bytes


@asynccontextmanager
async def serve_http(
    daemon: Daemon, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[HttpServer]:
    """Serve HTTP on ``host:port`` (``port=0``: a free port, see ``server.port``)."""
    listener = await anyio.create_tcp_listener(local_host=host, local_port=port)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)  # noqa: S610
    server = HttpServer(daemon, host, port)
    connections = ConnectionSet()
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, lambda s: _connection(server, s, connections))
        try:
            yield server
        finally:
            await connections.close_all()
            tg.cancel_scope.cancel()


def _host_allowed(server: HttpServer, header: str | None) -> bool:
    if server.host in ("0.0.0.0", "::"):  # noqa: S104  (mirrors signal-cli's any-address rule)
        return True
    if not header:
        return False
    port = None
    if header.startswith("["):
        end = header.find("]")
        if end < 0:
            return False
        host, rest = header[1:end], header[end + 1 :]
        port = rest[1:] if rest.startswith(":") else None
    else:
        host, sep, tail = header.rpartition(":")
        if sep and tail.isdigit():
            port = tail
        else:
            host = header
    if host.lower() not in {server.host.lower(), "localhost", "127.0.0.1", "::1"}:
        return False
    return port is None or (port.isdigit() and int(port) == server.port)


async def _read_request(reader: BufferedByteReceiveStream) -> _Request:
    head = (await reader.receive_until(b"\r\n\r\n", 65536)).decode("latin-1")
    request_line, *lines = head.split("\r\n")
    method, target, version = request_line.split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), value.strip())
    body = b""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        while True:
            size = int((await reader.receive_until(b"\r\n", 1024)).split(b";")[0], 16)
            chunk = await reader.receive_exactly(size + 2)
            if size == 0:
                break
            body += chunk[:-2]
    elif "content-length" in headers:
        body = await reader.receive_exactly(int(headers["content-length"]))
    path, _, query = target.partition("?")
    return _Request(method, path, query, version, headers, body)


def _head(status: int, headers: dict[str, str]) -> bytes:
    lines = [
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}",
        f"Date: {email.utils.formatdate(usegmt=True)}",
    ]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _respond(
    stream: anyio.abc.ByteStream,
    status: int,
    body: bytes | None = None,
    content_type: str = "application/json",
) -> None:
    headers = {"Content-Length": str(len(body or b""))}
    if body is not None:
        headers["Content-Type"] = content_type
    await stream.send(_head(status, headers) + (body or b""))


async def _connection(
    server: HttpServer, stream: anyio.abc.ByteStream, connections: ConnectionSet
) -> None:
    daemon = server.daemon
    reader = BufferedByteReceiveStream(stream)
    scope = anyio.CancelScope()
    close = connections.closer(stream, scope)
    daemon.register_closer(close)
    connections.add(close)
    try:
        with scope:
            while True:
                try:
                    request = await _read_request(reader)
                except (*_ERRORS, ValueError):
                    return
                keep_alive = request.headers.get("connection", "").lower() != "close" and (
                    request.version == "HTTP/1.1"
                    or request.headers.get("connection", "").lower() == "keep-alive"
                )
                if await _route(server, stream, reader, request):
                    return  # an SSE stream owned the connection until it ended
                if not keep_alive:
                    return
    except _ERRORS:
        pass
    finally:
        daemon.unregister_closer(close)
        with anyio.CancelScope(shield=True), suppress(*_ERRORS):
            await stream.aclose()
        connections.discard(close)


async def _route(
    server: HttpServer,
    stream: anyio.abc.ByteStream,
    reader: BufferedByteReceiveStream,
    request: _Request,
) -> bool:
    path = request.path
    if path.startswith("/api/v1/check"):
        if path != "/api/v1/check":
            await _respond(stream, 404)
        elif request.method != "GET":
            await _respond(stream, 405)
        else:
            await _respond(stream, 200)
        return False
    for context in ("/api/v1/rpc", "/api/v1/events"):
        if path.startswith(context):
            if not _host_allowed(server, request.headers.get("host")):
                await _respond(stream, 421)
            elif path != context:
                await _respond(stream, 404)
            elif request.method != ("POST" if context.endswith("rpc") else "GET"):
                await _respond(stream, 405)
            elif context.endswith("rpc"):
                await _rpc(server, stream, request)
            else:
                return await _events(server, stream, reader, request)
            return False
    await _respond(stream, 404, b"<h1>404 Not Found</h1>No context found for request", "text/html")
    return False


async def _rpc(server: HttpServer, stream: anyio.abc.ByteStream, request: _Request) -> None:
    if not request.headers.get("content-type", "").startswith("application/json"):
        await _respond(stream, 415)
        return
    session = Session(server.daemon, "http")
    try:
        response: Any = await session.handle_text(request.body.decode("utf-8", errors="replace"))
    except Exception:
        error = RpcError(INTERNAL_ERROR, "An internal server error has occurred.")
        response = error_response(error, None)
    if response is None:
        await _respond(stream, 201)
        return
    garbage = server.daemon.network.faults.take_garbage()
    await _respond(stream, 200, garbage if garbage is not None else encode_json(response))


async def _events(
    server: HttpServer,
    stream: anyio.abc.ByteStream,
    reader: BufferedByteReceiveStream,
    request: _Request,
) -> bool:
    daemon = server.daemon
    accounts = list(daemon.accounts)
    if daemon.multi_account:
        # signal-cli re-encodes "+" before decoding, so a raw "+1555…" survives.
        query = urllib.parse.parse_qs(request.query.replace("+", "%2B"))
        wanted = query.get("account", [""])[0]
        if wanted:
            found = daemon.lookup(wanted)
            if found is None:
                await _respond(stream, 400)
                return False
            accounts = [found]
    await stream.send(
        _head(200, {"Content-Type": "text/event-stream", "Transfer-Encoding": "chunked"})
    )
    send, receive = anyio.create_memory_object_stream[dict[str, Any]](math.inf)
    subscribers = [(a, Subscriber(send.send_nowait)) for a in accounts]
    lock = anyio.Lock()

    async def chunk(text: str) -> None:
        data = text.encode()
        async with lock:
            await stream.send(b"%x\r\n%s\r\n" % (len(data), data))

    async def keepalive() -> None:
        while True:
            await anyio.sleep(daemon.keepalive_interval)
            # A stalled daemon is silent: keep-alives stop too, as on a hung connection.
            await daemon.network.faults.wait_unstalled()
            await chunk(":\n")

    async def events() -> None:
        async for payload in receive:
            await daemon.network.faults.wait_unstalled()
            await chunk("event:receive\ndata:" + encode_json(payload).decode() + "\n\n")

    async def watch_eof() -> None:
        # Unsubscribe as soon as the client hangs up instead of at the next failed write.
        with suppress(*_ERRORS):
            while True:
                await reader.receive()

    for account, subscriber in subscribers:
        daemon.add_handler(account, subscriber)
    try:
        async with anyio.create_task_group() as tg:

            async def run(func: Any) -> None:
                with suppress(*_ERRORS):
                    await func()
                tg.cancel_scope.cancel()

            for func in (keepalive, events, watch_eof):
                tg.start_soon(run, func)
    finally:
        for account, subscriber in subscribers:
            daemon.remove_handler(account, subscriber)
        send.close()
    return True
