from __future__ import annotations

import os
import sys
from pathlib import Path

import anyio
import pytest
from signal_rpc_client import ALICE, BOB, LineClient
from unimsg_signal._jsonrpc import ErrorResponse

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]


class ProcessStream:
    """stdin/stdout of a child process as one byte stream."""

    def __init__(self, process: anyio.abc.Process) -> None:
        assert process.stdin is not None and process.stdout is not None
        self.stdin, self.stdout = process.stdin, process.stdout

    async def send(self, data: bytes) -> None:
        await self.stdin.send(data)

    async def receive(self) -> bytes:
        return await self.stdout.receive()

    async def aclose(self) -> None:
        await self.stdin.aclose()


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_stdio_jsonrpc_subprocess() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "adapters")])}
    command = [
        sys.executable,
        "-m",
        "unimsg_signal.emulator",
        "--account",
        ALICE,
        "--echo",
        BOB,
        "jsonrpc",
        "-a",
        ALICE,
    ]
    async with await anyio.open_process(command, env=env) as process:
        client = LineClient(ProcessStream(process))  # type: ignore[arg-type]
        with anyio.fail_after(10):
            assert await client.call("version") == {"version": "0.14.6"}
            result = await client.call("send", {"recipient": BOB, "message": "ping"})
            assert result["results"][0]["type"] == "SUCCESS"
            reply = await client.envelope(kind="dataMessage")
            assert reply["dataMessage"]["message"] == "echo: ping"
            await client.stream.send(b"\n")
            event = await client.response(None)
            assert isinstance(event, ErrorResponse) and event.code == -32700
            await client.aclose()  # EOF on stdin ends the process
            assert await process.wait() == 0
