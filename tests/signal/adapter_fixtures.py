"""Emulated signal-cli daemons and SignalAdapters wired to them, for adapter tests."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import attrs
from unimsg_signal import SignalAdapter
from unimsg_signal.emulator import (
    Daemon,
    EmulatedNetwork,
    ReceiveMode,
    serve_http,
    serve_tcp,
    serve_unix,
)

ALICE, BOB, CAROL = "+15550000001", "+15550000002", "+15550000003"
NOBODY = "+15559999999"
TRANSPORTS = ("tcp", "unix", "http", "stdio")
BRIDGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "stdio_bridge.py")
# Fast reconnects and short waits keep the whole directory quick.
FAST = {"min_backoff": 0.02, "max_backoff": 0.2, "request_timeout": 5.0, "connect_timeout": 5.0}


def make_network() -> EmulatedNetwork:
    network = EmulatedNetwork()
    network.register(ALICE, username="alice.01", given_name="Alice")
    network.register(BOB, username="bob.02", given_name="Bob")
    network.register(CAROL, given_name="Carol")
    return network


@attrs.define
class Rig:
    """A network with one daemon per account, all on one transport."""

    network: EmulatedNetwork
    transport: str
    stack: AsyncExitStack
    tmp: str
    daemons: dict[str, Daemon] = attrs.Factory(dict)
    urls: dict[str, str] = attrs.Factory(dict)

    async def serve(self, number: str, **daemon_options: Any) -> str:
        options: dict[str, Any] = {"receive_mode": ReceiveMode.MANUAL, **daemon_options}
        daemon = await self.stack.enter_async_context(Daemon(self.network, [number], **options))
        self.daemons[number] = daemon
        if self.transport == "tcp":
            server = await self.stack.enter_async_context(serve_tcp(daemon))
            url = f"tcp://127.0.0.1:{server.port}"
        elif self.transport == "stdio":
            # The adapter starts a child and speaks over its pipes, as with signal-cli jsonRpc.
            server = await self.stack.enter_async_context(serve_tcp(daemon))
            url = f"stdio:{sys.executable} {BRIDGE} {server.port} jsonRpc"
        elif self.transport == "unix":
            path = os.path.join(self.tmp, f"{number[-4:]}.sock")
            await self.stack.enter_async_context(serve_unix(daemon, path))
            url = f"unix://{path}"
        else:
            http = await self.stack.enter_async_context(serve_http(daemon))
            url = http.url
        self.urls[number] = url
        return url

    def adapter(self, number: str, **options: Any) -> SignalAdapter:
        return SignalAdapter.create(number, self.urls[number], **{**FAST, **options})


@asynccontextmanager
async def rig(transport: str = "tcp", network: EmulatedNetwork | None = None) -> AsyncIterator[Rig]:
    # UNIX socket paths must stay short: pytest's tmp_path can exceed the limit.
    tmp = tempfile.mkdtemp(prefix="usig")
    try:
        async with AsyncExitStack() as stack:
            yield Rig(network or make_network(), transport, stack, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
