from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest
from signal_rpc_client import ALICE, BOB
from unimsg_signal._jsonrpc import (
    ErrorResponse,
    JsonRpcConnection,
    Response,
    decode_http_body,
)
from unimsg_signal._sse import SseEvent, SseParser
from unimsg_signal.emulator import Daemon, EmulatedNetwork, HttpServer, serve_http

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def http_daemon(**kw: Any) -> AsyncIterator[tuple[EmulatedNetwork, HttpServer]]:
    network = EmulatedNetwork()
    network.register(ALICE, given_name="Alice")
    network.register(BOB)
    accounts = kw.pop("accounts", [ALICE])
    async with AsyncExitStack() as stack:
        daemon = await stack.enter_async_context(
            Daemon(network, accounts, keepalive_interval=0.05, **kw)
        )
        server = await stack.enter_async_context(serve_http(daemon))
        yield network, server


async def rpc(client: httpx.AsyncClient, url: str, method: str, params: Any = None) -> Any:
    _, body = JsonRpcConnection().send_request(method, params)
    response = await client.post(
        f"{url}/api/v1/rpc", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200
    return decode_http_body(response.content)[0]


async def sse_events(
    client: httpx.AsyncClient, url: str, count: int, ready: anyio.Event
) -> tuple[list[SseEvent], int]:
    parser = SseParser()
    events: list[SseEvent] = []
    async with client.stream("GET", url) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream"
        ready.set()
        async for chunk in response.aiter_bytes():
            events.extend(parser.feed(chunk))
            if len(events) >= count and parser.comments:
                return events, parser.comments
    raise AssertionError("stream ended")


async def test_rpc_and_sse_events() -> None:
    async with http_daemon() as (network, server), httpx.AsyncClient() as client:
        result = await rpc(client, server.url, "version")
        assert result == Response(1, {"version": "0.14.6"})
        ready = anyio.Event()
        got: list[Any] = []

        async def listen() -> None:
            got.append(await sse_events(client, f"{server.url}/api/v1/events", 1, ready))

        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(listen)
                await ready.wait()
                await anyio.sleep(0.05)  # the SSE subscription registers after the headers
                network.send_text(BOB, ALICE, "over sse")
        events, keepalives = got[0]
        assert events[0].event == "receive" and keepalives >= 1
        payload = events[0].json()
        assert isinstance(payload, dict) and payload["account"] == ALICE
        assert payload["envelope"]["dataMessage"]["message"] == "over sse"


async def test_http_status_codes() -> None:
    async with http_daemon() as (_, server), httpx.AsyncClient() as client:
        url = server.url
        json_header = {"Content-Type": "application/json"}
        body = b'{"jsonrpc":"2.0","method":"version","id":1}'
        assert (await client.get(f"{url}/api/v1/check")).status_code == 200
        assert (await client.post(f"{url}/api/v1/check")).status_code == 405
        assert (await client.get(f"{url}/api/v1/rpc")).status_code == 405
        assert (await client.post(f"{url}/api/v1/rpc/x", content=body)).status_code == 404
        assert (await client.post(f"{url}/api/v1/rpc", content=body)).status_code == 415
        assert (await client.get(f"{url}/nothing")).status_code == 404
        bad_host = {**json_header, "Host": "signal-cli:8080"}
        response = await client.post(f"{url}/api/v1/rpc", content=body, headers=bad_host)
        assert response.status_code == 421
        wrong_port = {**json_header, "Host": f"localhost:{server.port + 1}"}
        response = await client.post(f"{url}/api/v1/rpc", content=body, headers=wrong_port)
        assert response.status_code == 421
        note = b'{"jsonrpc":"2.0","method":"version"}'
        response = await client.post(f"{url}/api/v1/rpc", content=note, headers=json_header)
        assert response.status_code == 201 and response.content == b""
        batch = b"[" + body + b',{"jsonrpc":"2.0","method":"nope","id":2}]'
        response = await client.post(f"{url}/api/v1/rpc", content=batch, headers=json_header)
        events = decode_http_body(response.content)
        assert {type(e) for e in events} == {Response, ErrorResponse}
        # Socket-only methods do not exist over HTTP.
        err = await rpc(client, url, "subscribeReceive")
        assert isinstance(err, ErrorResponse) and err.code == -32601


async def test_http_receive_polling_in_manual_mode() -> None:
    async with http_daemon(receive_mode="manual") as (network, server), httpx.AsyncClient() as c:
        network.send_text(BOB, ALICE, "poll me")
        result = await rpc(c, server.url, "receive", {"timeout": 0.05})
        assert isinstance(result, Response)
        assert result.result[0]["envelope"]["dataMessage"]["message"] == "poll me"


async def test_multi_account_events_query_and_garbage() -> None:
    daemon = http_daemon(accounts=[ALICE, BOB], multi_account=True)
    async with daemon as (network, server), httpx.AsyncClient() as client:
        response = await client.get(f"{server.url}/api/v1/events?account=+15559999999")
        assert response.status_code == 400
        err = await rpc(client, server.url, "send", {"recipient": BOB, "message": "x"})
        assert isinstance(err, ErrorResponse) and err.code == -32602
        ok = await rpc(
            client, server.url, "send", {"account": ALICE, "recipient": BOB, "message": "x"}
        )
        assert isinstance(ok, Response)
        network.faults.garbage_next_response(b"<html>")
        _, body = JsonRpcConnection().send_request("version")
        response = await client.post(
            f"{server.url}/api/v1/rpc",
            content=body,
            headers={"Content-Type": "application/json"},
        )
        assert response.content == b"<html>"
        assert isinstance(await rpc(client, server.url, "version"), Response)


async def test_sse_drop() -> None:
    async with http_daemon() as (network, server), httpx.AsyncClient() as client:
        with anyio.fail_after(5):
            async with client.stream("GET", f"{server.url}/api/v1/events") as response:
                network.faults.drop_connections()
                with pytest.raises(httpx.HTTPError):
                    async for _ in response.aiter_bytes():
                        pass
