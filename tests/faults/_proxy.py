"""A TCP proxy that meddles with one exchange: withholds an answer, fakes one, injects bytes.

Rules match the first bytes a client sends on a connection after the rule was
armed (an HTTP request line, a JSON-RPC line) and then act on that connection:

* ``withhold``: the request reaches the server, the answer never reaches the
  client (``answered`` is set once the server has replied): a response lost
  between request and response.
* ``replace``: the request never reaches the server; the client gets
  ``payload`` and the connection closes: a corrupted response.
"""

from __future__ import annotations

import asyncio
import contextlib

import attrs


@attrs.define
class _Rule:
    pattern: bytes
    action: str
    payload: bytes = b""


class MeddlingProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self._upstream = (upstream_host, upstream_port)
        self._server: asyncio.Server | None = None
        self._rules: list[_Rule] = []
        self._clients: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.answered = asyncio.Event()
        self.hits = 0
        self.url = ""
        self.port = 0

    @classmethod
    def for_url(cls, url: str) -> MeddlingProxy:
        host, _, port = url.split("://", 1)[-1].rstrip("/").rpartition(":")
        return cls(host, int(port))

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._clients):
            writer.close()
        for task in list(self._tasks):
            task.cancel()

    def withhold(self, pattern: bytes) -> None:
        self._rules.append(_Rule(pattern, "withhold"))

    def replace(self, pattern: bytes, payload: bytes) -> None:
        self._rules.append(_Rule(pattern, "replace", payload))

    async def inject(self, data: bytes) -> None:
        """Write ``data`` to every client, between whatever the server sends."""
        for writer in list(self._clients):
            writer.write(data)
            with contextlib.suppress(ConnectionError):
                await writer.drain()

    def _match(self, data: bytes) -> _Rule | None:
        for rule in self._rules:
            if rule.pattern in data:
                self._rules.remove(rule)
                self.hits += 1
                return rule
        return None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        except OSError:
            writer.close()
            return
        self._clients.add(writer)
        withheld = False

        async def upward() -> None:
            nonlocal withheld
            try:
                while data := await reader.read(65536):
                    rule = self._match(data)
                    if rule is not None and rule.action == "replace":
                        writer.write(rule.payload)
                        await writer.drain()
                        return
                    if rule is not None:
                        withheld = True
                    up_writer.write(data)
                    await up_writer.drain()
            except (ConnectionError, OSError):
                pass

        async def downward() -> None:
            try:
                while data := await up_reader.read(65536):
                    if withheld:
                        self.answered.set()
                        continue
                    writer.write(data)
                    await writer.drain()
            except (ConnectionError, OSError):
                pass

        try:
            _done, pending = await asyncio.wait(
                [asyncio.ensure_future(upward()), asyncio.ensure_future(downward())],
                return_when=asyncio.FIRST_COMPLETED,
            )
            for other in pending:
                other.cancel()
        except asyncio.CancelledError:
            pass  # the proxy is closing
        finally:
            self._clients.discard(writer)
            for w in (writer, up_writer):
                w.close()
            self._tasks.discard(task)
