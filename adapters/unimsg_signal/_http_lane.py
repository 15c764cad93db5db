"""One keep-alive HTTP/1.1 connection for JSON-RPC posts: h11 over one anyio stream.

A request to ``daemon --http`` is a small POST with a small answer. Through
httpx each one paid for URL parsing, header models, the auth flow, the pool's
bookkeeping and several cancel scopes: about nine times the client CPU of a
plain ``http.client`` loop. A lane does only what such a post needs: build
the request once from fixed headers, write it in one piece, read the answer
with h11 (which keeps the HTTP framing rules), and keep the connection for
the next request. Concurrency comes from several lanes, one request each.
"""

from __future__ import annotations

import select
import ssl
from contextlib import suppress

import anyio
import anyio.abc
import h11
import sniffio

from unimsg import ConnectError

from . import _asyncio_stream

__all__ = ["LANE_ERRORS", "HttpAnswer", "HttpLane"]

#: Whatever a broken connection or a garbled answer raises; the lane is reset.
LANE_ERRORS = (
    OSError,
    anyio.EndOfStream,
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    h11.ProtocolError,
    ConnectError,
)


class HttpAnswer:
    """Status and body of one answer."""

    __slots__ = ("content", "status_code")

    def __init__(self, status_code: int, content: bytes) -> None:
        self.status_code = status_code
        self.content = content


class HttpLane:
    """POSTs to one path on one host, one at a time, over a connection kept alive."""

    def __init__(
        self,
        host: str,
        port: int,
        path: str,
        headers: list[tuple[str, str]],
        *,
        tls: ssl.SSLContext | None = None,
        connect_timeout: float = 10.0,
    ) -> None:
        self._host, self._port, self._tls = host, port, tls
        self._connect_timeout = connect_timeout
        default_port = 443 if tls is not None else 80
        authority = host if port == default_port else f"{host}:{port}"
        if ":" in host and not host.startswith("["):
            authority = f"[{host}]" if port == default_port else f"[{host}]:{port}"
        self._head = [("Host", authority), ("Content-Type", "application/json"), *headers]
        self._path = path
        self._stream: anyio.abc.ByteStream | None = None
        self._h11 = h11.Connection(h11.CLIENT)
        #: Whether the last post's request started on its way: it may have reached the
        #: server (and taken effect) even if no answer came.
        self.sent = False

    async def post(self, body: bytes, limit: float) -> HttpAnswer:
        """The answer to ``body``; `TimeoutError` after ``limit`` seconds, or one of
        `LANE_ERRORS`. A connection the server closed while idle is replaced first."""
        self.sent = False
        with anyio.fail_after(limit):
            try:
                stream = await self._connected()
                return await self._exchange(stream, body)
            except BaseException:
                # A request cut short leaves the connection in an unknown state.
                await self.aclose()
                raise

    async def _connected(self) -> anyio.abc.ByteStream:
        stream = self._stream
        # Under TLS a readable socket may just hold a session ticket: no check there.
        if stream is not None and (self._tls is not None or not _idle_closed(stream)):
            return stream
        if stream is not None:
            await self.aclose()
        with anyio.fail_after(self._connect_timeout):
            if self._tls is None and sniffio.current_async_library() == "asyncio":
                # The lean stream of the socket transports (see _asyncio_stream).
                stream = await _asyncio_stream.connect_tcp(self._host, self._port)
            elif self._tls is None:
                stream = await anyio.connect_tcp(self._host, self._port)
            else:
                stream = await anyio.connect_tcp(
                    self._host,
                    self._port,
                    tls=True,
                    ssl_context=self._tls,
                    tls_standard_compatible=False,
                )
        self._stream = stream
        self._h11 = h11.Connection(h11.CLIENT)
        return stream

    async def _exchange(self, stream: anyio.abc.ByteStream, body: bytes) -> HttpAnswer:
        conn = self._h11
        headers = [*self._head, ("Content-Length", str(len(body)))]
        request = h11.Request(method="POST", target=self._path, headers=headers)
        parts = (conn.send(request), conn.send(h11.Data(data=body)), conn.send(h11.EndOfMessage()))
        self.sent = True
        await stream.send(b"".join(part for part in parts if part))
        status, chunks = 0, []
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await stream.receive())
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                raise ConnectError("signal-cli closed the connection before its answer ended")
            # InformationalResponse (100 Continue) needs nothing.
        if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
            conn.start_next_cycle()
        else:
            await self.aclose()
        return HttpAnswer(status, b"".join(chunks))

    async def aclose(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            with anyio.CancelScope(shield=True), suppress(*LANE_ERRORS):
                await stream.aclose()


def _idle_closed(stream: anyio.abc.ByteStream) -> bool:
    """Whether the server closed a kept-alive connection (readable while idle = EOF)."""
    if isinstance(stream, _asyncio_stream.AsyncioStream):
        # It reads ahead all the time: an EOF is already known, without a system call.
        return stream.idle_closed()
    try:
        sock = stream.extra(anyio.abc.SocketAttribute.raw_socket)  # noqa: S610
    except anyio.TypedAttributeLookupError:
        return False
    readable, _, _ = select.select([sock], [], [], 0)
    return bool(readable)
