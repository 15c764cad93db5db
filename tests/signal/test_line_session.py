"""LineSession against a scripted peer: answers matched by id, cancelled and timed-out callers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import pytest
import sniffio
from unimsg_signal._asyncio_stream import connect_tcp
from unimsg_signal._jsonrpc import Response
from unimsg_signal._rpc import LineSession, RequestLost

pytestmark = pytest.mark.anyio


class Peer:
    """The daemon's side: the requests as they arrive; answers only when told."""

    def __init__(self) -> None:
        self.requests: list[dict[str, object]] = []
        self.arrived = anyio.Event()
        self.stream: anyio.abc.SocketStream | None = None

    async def serve(self, stream: anyio.abc.SocketStream) -> None:
        self.stream = stream
        buffer = b""
        async for chunk in stream:
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                self.requests.append(json.loads(line))
                self.arrived.set()

    async def next_request(self) -> dict[str, object]:
        with anyio.fail_after(5):
            while not self.requests:
                self.arrived = anyio.Event()
                await self.arrived.wait()
        return self.requests.pop(0)

    async def answer(self, rid: object, result: object) -> None:
        assert self.stream is not None
        line = json.dumps({"jsonrpc": "2.0", "result": result, "id": rid}) + "\n"
        await self.stream.send(line.encode())


@asynccontextmanager
async def session_and_peer() -> AsyncIterator[tuple[LineSession, Peer]]:
    peer = Peer()
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, peer.serve)
        if sniffio.current_async_library() == "asyncio":
            stream: anyio.abc.ByteStream = await connect_tcp("127.0.0.1", port)
        else:
            stream = await anyio.connect_tcp("127.0.0.1", port)
        async with stream:
            session = LineSession(stream, lambda note: None)
            tg.start_soon(session.serve)
            yield session, peer
        tg.cancel_scope.cancel()


async def test_answers_out_of_order_reach_their_callers() -> None:
    async with session_and_peer() as (session, peer), anyio.create_task_group() as tg:
        got: dict[str, object] = {}

        async def call(name: str) -> None:
            answer = await session.call("version", {"n": name}, 5)
            assert isinstance(answer, Response)
            got[name] = answer.result

        tg.start_soon(call, "a")
        first = await peer.next_request()
        tg.start_soon(call, "b")
        second = await peer.next_request()
        await peer.answer(second["id"], "for b")
        await peer.answer(first["id"], "for a")
    assert got == {"a": "for a", "b": "for b"}


async def test_a_cancelled_caller_leaves_the_session_usable() -> None:
    async with session_and_peer() as (session, peer):
        with anyio.move_on_after(0.2) as scope:
            await session.call("send", {"message": "gone"}, 5)
        assert scope.cancelled_caught
        lost = await peer.next_request()
        # Its late answer finds nobody waiting and is dropped; the next caller gets its own.
        await peer.answer(lost["id"], "late")
        async with anyio.create_task_group() as tg:

            async def answer_next() -> None:
                request = await peer.next_request()
                await peer.answer(request["id"], "fresh")

            tg.start_soon(answer_next)
            answer = await session.call("version", None, 5)
        assert isinstance(answer, Response) and answer.result == "fresh"


async def test_no_answer_in_time_is_a_lost_request_that_was_written() -> None:
    async with session_and_peer() as (session, peer):
        with pytest.raises(RequestLost, match=r"did not answer send within 0\.3s") as caught:
            await session.call("send", {"message": "unanswered"}, 0.3)
        assert caught.value.written
        assert (await peer.next_request())["params"] == {"message": "unanswered"}
