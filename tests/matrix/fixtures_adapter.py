"""Fixtures for the MatrixAdapter tests: adapters for registered users, conformance pairs."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from unimsg_matrix import MatrixAdapter

from .synapse import RegisteredUser, SynapseInstance

#: The colleague fixture ``make_matrix_user``: ``await make(localpart=None, ..., instance=None)``.
MakeUser = Callable[..., Awaitable[RegisteredUser]]


def adapter_for(user: RegisteredUser, store: Path, **settings: Any) -> MatrixAdapter:
    """An adapter that restores the registration's session (no login, no new device)."""
    settings.setdefault("sync_timeout_ms", 10_000)
    # Tests that are not about cross-signing give one account several stores; a store
    # without the account's keys would rightly refuse to start without the recovery key.
    settings.setdefault("cross_signing", False)
    return MatrixAdapter(
        homeserver=user.homeserver,
        user_id=user.user_id,
        access_token=user.access_token,
        device_id=user.device_id,
        store_path=store,
        **settings,
    )


def unknown_user(instance: SynapseInstance) -> str:
    return f"matrix:@nobody{uuid.uuid4().hex[:10]}:{instance.server_name}"


@pytest.fixture
def store_root(tmp_path: Path) -> Path:
    return tmp_path / "stores"


MakeAdapter = Callable[..., MatrixAdapter]


@pytest.fixture
def make_adapter(store_root: Path) -> MakeAdapter:
    """``make_adapter(user, **settings)``: an adapter with its own store under tmp_path."""

    def make(user: RegisteredUser, **settings: Any) -> MatrixAdapter:
        return adapter_for(user, store_root / user.localpart, **settings)

    return make


class CuttableProxy:
    """A TCP proxy in front of the homeserver whose connections can be cut and refused."""

    def __init__(self, upstream: str) -> None:
        host, _, port = upstream.removeprefix("http://").partition(":")
        self._upstream = (host, int(port or 80))
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.down = False
        self.url = ""

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.down:
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        self._writers.update((writer, up_writer))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers.difference_update((writer, up_writer))

    def cut(self) -> None:
        """Drop every open connection and refuse new ones."""
        self.down = True
        for writer in list(self._writers):
            writer.close()

    def restore(self) -> None:
        self.down = False

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


@pytest_asyncio.fixture
async def proxy(synapse: SynapseInstance) -> AsyncIterator[CuttableProxy]:
    proxy = CuttableProxy(synapse.url)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()
