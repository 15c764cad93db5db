"""Line-framed JSON-RPC transports: TCP, UNIX socket, stdio, any byte stream.

Each line is one request (or batch), handled concurrently like signal-cli's
virtual-thread executor, so responses come back in completion order,
interleaved with ``receive`` notifications. Writes are whole lines.
"""

from __future__ import annotations

import math
import os
import socket
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any

import anyio
import anyio.abc
import attrs
from anyio.streams.memory import MemoryObjectReceiveStream

from .._jsonrpc import LineBuffer, encode_json
from ._daemon import Daemon
from ._rpc import Session, Transport

_STREAM_ERRORS = (
    anyio.EndOfStream,
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    ConnectionError,
    OSError,
)
# signal-cli reads lines without a length limit; this only bounds memory.
_MAX_LINE = 64 * 1024 * 1024

AnyByteStream = anyio.abc.ByteStream | anyio.abc.ObjectStream[bytes]


class ConnectionSet:
    """The open connections of one listener, so shutdown can hang them up.

    Hanging up shuts the socket down instead of cancelling the task blocked
    in ``receive``: cancelling a pending read races with the readiness
    callback on asyncio's UNIX sockets. Streams without a socket are cancelled.
    """

    def __init__(self) -> None:
        self._closers: set[Callable[[], None]] = set()
        self._empty = anyio.Event()
        self._empty.set()

    def closer(self, stream: Any, scope: anyio.CancelScope) -> Callable[[], None]:
        sock = stream.extra(anyio.abc.SocketAttribute.raw_socket, None)  # noqa: S610

        def close() -> None:
            if sock is None:
                scope.cancel()
                return
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

        return close

    def add(self, closer: Callable[[], None]) -> None:
        self._closers.add(closer)
        self._empty = anyio.Event() if self._empty.is_set() else self._empty

    def discard(self, closer: Callable[[], None]) -> None:
        self._closers.discard(closer)
        if not self._closers:
            self._empty.set()

    async def close_all(self, grace: float = 2.0) -> None:
        for close in list(self._closers):
            close()
        with anyio.move_on_after(grace):
            await self._empty.wait()


async def serve_stream(
    daemon: Daemon,
    stream: AnyByteStream,
    transport: Transport = "socket",
    *,
    connections: ConnectionSet | None = None,
) -> None:
    """Serve one client on an already-open byte stream until EOF or a drop.

    ``transport`` is ``"socket"`` or ``"stdio"``; both behave the same.
    Closes the stream when done.
    """
    write_lock = anyio.Lock()
    faults = daemon.network.faults
    send_note, recv_note = anyio.create_memory_object_stream[dict[str, Any]](math.inf)
    scope = anyio.CancelScope()
    connections = connections or ConnectionSet()
    close = connections.closer(stream, scope)

    async def write(data: bytes) -> None:
        try:
            async with write_lock:
                await stream.send(data)
        except _STREAM_ERRORS:
            close()

    async def respond(session: Session, line: bytes) -> None:
        response = await session.handle_text(line.decode("utf-8", errors="replace"))
        if response is not None:
            await write(faults.take_garbage() or encode_json(response) + b"\n")

    def notify(message: dict[str, Any]) -> None:
        with suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
            send_note.send_nowait(message)

    session = Session(daemon, transport, notify)
    daemon.register_closer(close)
    connections.add(close)
    try:
        with scope:
            async with anyio.create_task_group() as tg:
                tg.start_soon(_notifier, daemon, recv_note, write)
                session.open()
                async with anyio.create_task_group() as requests:
                    lines = LineBuffer(_MAX_LINE)
                    while True:
                        try:
                            data = await stream.receive()
                        except _STREAM_ERRORS:
                            break
                        lines.feed(data)
                        while (line := lines.next_line()) is not None:
                            requests.start_soon(respond, session, line)
                # EOF: like signal-cli, finish running requests, then hang up.
                tg.cancel_scope.cancel()
    finally:
        session.close()
        daemon.unregister_closer(close)
        send_note.close()
        recv_note.close()
        with anyio.CancelScope(shield=True), suppress(*_STREAM_ERRORS):
            await stream.aclose()
        connections.discard(close)


async def _notifier(
    daemon: Daemon, notes: MemoryObjectReceiveStream[dict[str, Any]], write: Any
) -> None:
    async for message in notes:
        await daemon.network.faults.wait_unstalled()
        await write(encode_json(message) + b"\n")


@attrs.define
class SocketServer:
    """A running TCP or UNIX listener. ``port`` is 0 and ``path`` set for UNIX."""

    daemon: Daemon
    host: str | None = None
    port: int = 0
    path: str | None = None


@asynccontextmanager
async def serve_tcp(
    daemon: Daemon, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[SocketServer]:
    """``daemon --tcp=HOST:PORT``; ``port=0`` picks a free port (see ``server.port``)."""
    listener = await anyio.create_tcp_listener(local_host=host, local_port=port)
    bound = listener.extra(anyio.abc.SocketAttribute.local_port)  # noqa: S610
    connections = ConnectionSet()
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, lambda s: serve_stream(daemon, s, connections=connections))
        try:
            yield SocketServer(daemon, host=host, port=bound)
        finally:
            await connections.close_all()
            tg.cancel_scope.cancel()


@asynccontextmanager
async def serve_unix(daemon: Daemon, path: str | os.PathLike[str]) -> AsyncIterator[SocketServer]:
    """``daemon --socket=PATH``; the socket file is removed afterwards."""
    listener = await anyio.create_unix_listener(path)
    try:
        connections = ConnectionSet()
        async with listener, anyio.create_task_group() as tg:
            tg.start_soon(
                listener.serve, lambda s: serve_stream(daemon, s, connections=connections)
            )
            try:
                yield SocketServer(daemon, path=str(path))
            finally:
                await connections.close_all()
                tg.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True), suppress(OSError):
            await anyio.Path(path).unlink()


class StdioStream(anyio.abc.ByteStream):
    """The process's stdin/stdout as a byte stream (reads run in a worker thread)."""

    def __init__(self, stdin: int | None = None, stdout: int | None = None) -> None:
        self._in = sys.stdin.fileno() if stdin is None else stdin
        self._out = sys.stdout.fileno() if stdout is None else stdout

    async def receive(self, max_bytes: int = 65536) -> bytes:
        data = await anyio.to_thread.run_sync(os.read, self._in, max_bytes, abandon_on_cancel=True)
        if not data:
            raise anyio.EndOfStream
        return data

    async def send(self, item: bytes) -> None:
        view = memoryview(item)
        while view:
            written = await anyio.to_thread.run_sync(os.write, self._out, view)
            view = view[written:]

    async def send_eof(self) -> None:
        pass

    async def aclose(self) -> None:
        pass


async def serve_stdio(daemon: Daemon) -> None:
    """``signal-cli -a ACCOUNT jsonRpc``: serve stdin/stdout until stdin ends."""
    await serve_stream(daemon, StdioStream(), "stdio")
