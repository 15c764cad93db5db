"""The asyncio byte stream under the line-framed transports: the ByteStream contract."""

from __future__ import annotations

from pathlib import Path

import anyio
import anyio.abc
import pytest
from unimsg_signal import _asyncio_stream

pytestmark = pytest.mark.parametrize("anyio_backend", ["asyncio"])
BIG = 3 * 1024 * 1024  # past the read-ahead limit, so reading pauses and resumes


@pytest.mark.anyio
async def test_echo_big_payload_then_end_of_stream() -> None:
    async def echo(peer: anyio.abc.SocketStream) -> None:
        async with peer:
            got = 0
            while got < BIG:
                data = await peer.receive()
                got += len(data)
                await peer.send(data)

    async with (
        await anyio.create_tcp_listener(local_host="127.0.0.1") as listener,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(listener.serve, echo)
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        stream = await _asyncio_stream.connect_tcp("127.0.0.1", port)
        payload = bytes(range(256)) * (BIG // 256)

        async def write() -> None:
            await stream.send(payload)

        tg.start_soon(write)
        await anyio.sleep(0.2)  # the echo piles up unread, past the read-ahead limit
        received = bytearray()
        while len(received) < BIG:
            received += await stream.receive(100_000)
        assert bytes(received) == payload
        with pytest.raises(anyio.EndOfStream):
            await stream.receive()
        await stream.aclose()
        with pytest.raises(anyio.ClosedResourceError):
            await stream.send(b"x")
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_a_cancelled_receive_leaves_the_stream_usable() -> None:
    async def late(peer: anyio.abc.SocketStream) -> None:
        async with peer:
            await anyio.sleep(0.2)
            await peer.send(b"late\n")

    async with (
        await anyio.create_tcp_listener(local_host="127.0.0.1") as listener,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(listener.serve, late)
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        stream = await _asyncio_stream.connect_tcp("127.0.0.1", port)
        with anyio.move_on_after(0.05):
            await stream.receive()
        assert await stream.receive() == b"late\n"
        await stream.aclose()
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_unix_socket(tmp_path: Path) -> None:
    path = str(tmp_path) + "/s"

    async def hello(peer: anyio.abc.SocketStream) -> None:
        async with peer:
            await peer.send(await peer.receive())

    async with await anyio.create_unix_listener(path) as listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, hello)
        stream = await _asyncio_stream.connect_unix(path)
        await stream.send(b"hi\n")
        assert await stream.receive() == b"hi\n"
        await stream.aclose()
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_send_nowait_writes_at_once_and_refuses_when_closed() -> None:
    async def echo(peer: anyio.abc.SocketStream) -> None:
        async with peer:
            await peer.send(await peer.receive())

    async with (
        await anyio.create_tcp_listener(local_host="127.0.0.1") as listener,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(listener.serve, echo)
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        stream = await _asyncio_stream.connect_tcp("127.0.0.1", port)
        assert stream.send_nowait(b"now\n")
        assert await stream.receive() == b"now\n"
        await stream.aclose()
        assert not stream.send_nowait(b"late\n")
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_pump_hands_over_chunks_pauses_when_full_and_returns_at_the_end() -> None:
    more = anyio.Event()

    async def talk(peer: anyio.abc.SocketStream) -> None:
        async with peer:
            await peer.send(b"one\n")
            await more.wait()
            await peer.send(b"two\n")
            await anyio.sleep(0.05)
            await peer.send(b"three\n")

    async with (
        await anyio.create_tcp_listener(local_host="127.0.0.1") as listener,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(listener.serve, talk)
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        stream = await _asyncio_stream.connect_tcp("127.0.0.1", port)
        got: list[bytes] = []

        def full_after_one(data: bytes) -> bool:
            got.append(data)
            return False

        # A chunk read ahead by receive's buffer goes first; the sink's False ends the pump.
        await stream.pump(full_after_one)
        assert got == [b"one\n"]
        more.set()
        await anyio.sleep(0.02)  # "two" arrives while reading is paused, and waits
        assert got == [b"one\n"]

        def take_all(data: bytes) -> bool:
            got.append(data)
            return True

        with anyio.fail_after(5):
            await stream.pump(take_all)  # returns at the end of the stream
        assert b"".join(got) == b"one\ntwo\nthree\n"
        with pytest.raises(anyio.EndOfStream):
            await stream.receive()
        await stream.aclose()
        tg.cancel_scope.cancel()
