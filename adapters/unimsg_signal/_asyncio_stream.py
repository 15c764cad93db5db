"""A byte stream straight on an asyncio transport, for the line-framed connections.

anyio's asyncio socket stream resumes and pauses the transport's reading around
every ``receive`` (two ``epoll_ctl`` system calls each time) and yields to the
event loop once more after every ``send``. On a JSON-RPC connection that waits
for one short answer per request, that was a fifth of the client's CPU per
request. This stream keeps reading until its buffer is full (flow control
then pauses the transport) and yields only when it has to wait: ``receive``
with nothing buffered, ``send`` while the transport's buffer is full.

Used under asyncio only; `open_line_stream` keeps anyio's streams for trio.
"""

from __future__ import annotations

import asyncio
import collections
import socket
from collections.abc import Callable
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel

__all__ = ["AsyncioStream", "connect_tcp", "connect_unix"]

# Read ahead at most this much before pausing the transport.
_HIGH_WATER = 1024 * 1024


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.chunks: collections.deque[bytes] = collections.deque()
        self.buffered = 0
        self.reading_paused = False
        self.eof = False
        self.error: BaseException | None = None
        self.readable: asyncio.Future[None] | None = None
        self.writable: asyncio.Future[None] | None = None
        # While `AsyncioStream.pump` runs: where arriving data goes, straight from the loop.
        self.sink: Callable[[bytes], bool] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        sink = self.sink
        if sink is not None:
            if not sink(data):
                # The consumer is full: stop reading until it pumps again.
                self.sink = None
                self.pause()
                self._wake_reader()
            return
        self.chunks.append(data)
        self.buffered += len(data)
        if self.buffered > _HIGH_WATER:
            self.pause()
        self._wake_reader()

    def pause(self) -> None:
        if not self.reading_paused and self.transport is not None:
            self.transport.pause_reading()
            self.reading_paused = True

    def eof_received(self) -> bool:
        self.eof = True
        self._wake_reader()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.error = exc
        self._wake_reader()
        self._wake_writer()

    def pause_writing(self) -> None:
        if self.writable is None:
            self.writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        self._wake_writer()

    def _wake_reader(self) -> None:
        waiter, self.readable = self.readable, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _wake_writer(self) -> None:
        waiter, self.writable = self.writable, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class AsyncioStream(anyio.abc.ByteStream):
    def __init__(self, transport: asyncio.Transport, protocol: _Protocol) -> None:
        self._transport = transport
        self._protocol = protocol
        self._closed = False

    async def receive(self, max_bytes: int = 65536) -> bytes:
        protocol = self._protocol
        if protocol.chunks:
            # Data was already waiting: still give other tasks their turn.
            await anyio.lowlevel.checkpoint()
        while not protocol.chunks:
            if self._closed:
                raise anyio.ClosedResourceError
            if protocol.eof:
                if protocol.error is not None:
                    raise anyio.BrokenResourceError from protocol.error
                raise anyio.EndOfStream
            if protocol.reading_paused:
                # Paused by a full `pump` consumer, with nothing read ahead.
                protocol.reading_paused = False
                self._transport.resume_reading()
            protocol.readable = waiter = asyncio.get_running_loop().create_future()
            await waiter
        chunk = protocol.chunks.popleft()
        if len(chunk) > max_bytes:
            chunk, rest = chunk[:max_bytes], chunk[max_bytes:]
            protocol.chunks.appendleft(rest)
        protocol.buffered -= len(chunk)
        if protocol.reading_paused and protocol.buffered <= _HIGH_WATER // 2:
            protocol.reading_paused = False
            self._transport.resume_reading()
        return chunk

    async def pump(self, sink: Callable[[bytes], bool]) -> None:
        """Hand each chunk to ``sink`` as the transport reads it, without a task switch.

        The chunks read ahead go first. Returns once ``sink`` returns ``False`` (it took
        that chunk; reading pauses until the next `pump` or `receive`) or the stream
        ends (`receive` then raises why). ``sink`` must not raise.
        """
        protocol = self._protocol
        while protocol.chunks:
            chunk = protocol.chunks.popleft()
            protocol.buffered -= len(chunk)
            if not sink(chunk):
                return
        if protocol.reading_paused and not protocol.eof:
            protocol.reading_paused = False
            self._transport.resume_reading()
        protocol.sink = sink
        try:
            while protocol.sink is not None and not protocol.eof and not self._closed:
                protocol.readable = waiter = asyncio.get_running_loop().create_future()
                await waiter
        finally:
            protocol.sink = None

    async def send(self, item: bytes) -> None:
        if self._closed:
            raise anyio.ClosedResourceError
        protocol = self._protocol
        if protocol.eof and self._transport.is_closing():
            raise anyio.BrokenResourceError from protocol.error
        # The whole item goes into the transport's buffer at once: a cancelled
        # caller can never leave half a line behind.
        self._transport.write(item)
        waiter = protocol.writable
        if waiter is not None:
            await waiter
            if protocol.error is not None:
                raise anyio.BrokenResourceError from protocol.error

    def send_nowait(self, item: bytes) -> bool:
        """Write ``item`` now if the transport takes it without waiting; ``False`` (and
        nothing written) when ``send`` would have to wait or fail."""
        if self._closed or self._protocol.eof or self._protocol.writable is not None:
            return False
        self._transport.write(item)
        return True

    def idle_closed(self) -> bool:
        """Whether the peer closed (or wrote unasked) while nobody read: what a kept-alive
        HTTP connection shows when the server dropped it."""
        protocol = self._protocol
        return self._closed or protocol.eof or bool(protocol.chunks)

    async def send_eof(self) -> None:
        if self._transport.can_write_eof():
            self._transport.write_eof()

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            self._transport.close()
            self._protocol._wake_reader()
            self._protocol._wake_writer()
        await anyio.lowlevel.checkpoint()


async def connect_tcp(host: str, port: int) -> AsyncioStream:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_connection(
        _Protocol, host, port, happy_eyeballs_delay=0.25
    )
    sock: Any = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return AsyncioStream(transport, protocol)


async def connect_unix(path: str) -> AsyncioStream:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_unix_connection(_Protocol, path)
    return AsyncioStream(transport, protocol)
