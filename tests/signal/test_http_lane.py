"""The HTTP lane against a small scripted server: keep-alive, closed connections, framing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import pytest
from unimsg_signal._http_lane import LANE_ERRORS, HttpLane

Reply = Callable[[int, bytes], bytes | tuple[bytes, str] | None]


@asynccontextmanager
async def server(reply: Reply) -> AsyncIterator[tuple[int, list[bytes], list[int]]]:
    """Answers each request with ``reply(connection_number, request)``; ``None`` closes
    at once, ``(answer, "then close")`` after answering (without saying so)."""
    requests: list[bytes] = []
    connections = [0]
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")

    async def handle(stream: anyio.abc.SocketStream) -> None:
        connections[0] += 1
        number, buffer = connections[0], b""
        async with stream:
            while True:
                while b"\r\n\r\n" not in buffer:
                    try:
                        buffer += await stream.receive()
                    except anyio.EndOfStream:
                        return
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                while len(buffer) < length:
                    buffer += await stream.receive()
                body, buffer = buffer[:length], buffer[length:]
                requests.append(head + b"\r\n\r\n" + body)
                answer = reply(number, body)
                if answer is None:
                    return
                if isinstance(answer, tuple):
                    await stream.send(answer[0])
                    return
                await stream.send(answer)

    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        yield port, requests, connections
        tg.cancel_scope.cancel()


def ok(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


def lane(port: int) -> HttpLane:
    return HttpLane("127.0.0.1", port, "/api/v1/rpc", [("Authorization", "Bearer t")])


@pytest.mark.anyio
async def test_requests_share_one_connection() -> None:
    async with server(lambda n, body: ok(body.upper())) as (port, requests, connections):
        posts = lane(port)
        for text in (b'{"a":1}', b'{"b":2}', b'{"c":3}'):
            answer = await posts.post(text, 5)
            assert (answer.status_code, answer.content) == (200, text.upper())
        await posts.aclose()
    assert connections == [1]
    assert requests[0].startswith(b"POST /api/v1/rpc HTTP/1.1\r\n")
    assert b"authorization: bearer t" in requests[0].lower()
    assert b"content-type: application/json" in requests[0].lower()


@pytest.mark.anyio
async def test_a_connection_closed_while_idle_is_replaced() -> None:
    def reply(number: int, body: bytes) -> bytes:
        # Every answer says the server closes: the next post needs a new connection.
        return b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"

    async with server(reply) as (port, _, connections):
        posts = lane(port)
        for _ in range(3):
            assert (await posts.post(b"{}", 5)).content == b"ok"
        await posts.aclose()
    assert connections == [3]


@pytest.mark.anyio
async def test_a_kept_alive_connection_the_server_dropped_is_not_reused() -> None:
    async with server(lambda n, body: (ok(b"%d" % n), "then close")) as (port, _, connections):
        posts = lane(port)
        assert (await posts.post(b"{}", 5)).content == b"1"
        await anyio.sleep(0.1)  # the server's FIN arrives while the lane is idle
        assert (await posts.post(b"{}", 5)).content == b"2"
        await posts.aclose()
    assert connections == [2]


@pytest.mark.anyio
async def test_chunked_answer_and_empty_answer() -> None:
    def reply(number: int, body: bytes) -> bytes:
        if body == b"{}":
            return b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"
        return (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
        )

    async with server(reply) as (port, _, connections):
        posts = lane(port)
        assert (await posts.post(b"[1]", 5)).content == b"abcde"
        empty = await posts.post(b"{}", 5)
        assert (empty.status_code, empty.content) == (201, b"")
        await posts.aclose()
    assert connections == [1]


@pytest.mark.anyio
async def test_a_connection_dropped_mid_request_fails_and_the_next_post_reconnects() -> None:
    def reply(number: int, body: bytes) -> bytes | None:
        return None if number == 1 else ok(b"again")

    async with server(reply) as (port, _, connections):
        posts = lane(port)
        with pytest.raises(LANE_ERRORS):
            await posts.post(b"{}", 5)
        assert (await posts.post(b"{}", 5)).content == b"again"
        await posts.aclose()
    assert connections == [2]


@pytest.mark.anyio
async def test_no_answer_within_the_limit_is_a_timeout() -> None:
    async with server(lambda n, body: b"") as (port, _, _):
        posts = lane(port)
        with pytest.raises(TimeoutError):
            await posts.post(b"{}", 0.2)
        await posts.aclose()
