"""Embedding unimsg in a web application (Starlette, any ASGI server).

    pip install 'unimsg[matrix,signal]' starlette uvicorn
    UNIMSG_CONFIG=unimsg.toml uvicorn examples.asgi_app:app    # real servers
    uvicorn examples.asgi_app:app                              # the fake network

- The application's lifespan opens the client (connecting every configured
  adapter) before the first request and closes it after the last one.
- A request handler sends: ``POST /send {"to": "alice", "text": "..."}``
  routes the message by the configuration's routes; a bad target is a 400.
- One background task consumes the client's events for the whole
  application and hands each incoming message to ``Inbox.on_message``
  (here: kept for ``GET /messages``; a real application would store it,
  push it to websockets, or enqueue work). A client has one event stream:
  request handlers never read it themselves.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route as HttpRoute

import unimsg
from unimsg.testing import FakeNetwork


class Inbox:
    """The one consumer of the client's events, and what it kept."""

    def __init__(self, client: unimsg.Client, *, keep: int = 100) -> None:
        self.client = client
        self.messages: deque[dict[str, Any]] = deque(maxlen=keep)

    async def consume(self) -> None:
        async for event in self.client.events():
            if isinstance(event, unimsg.MessageReceived) and not event.from_self:
                await self.on_message(event)

    async def on_message(self, event: unimsg.MessageReceived) -> None:
        self.messages.append(
            {
                "from": str(event.sender),
                "conversation": str(event.conversation),
                "text": event.text,
            }
        )


def create_app(config: unimsg.Config) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with config.client() as client, anyio.create_task_group() as tg:
            app.state.client = client
            app.state.inbox = inbox = Inbox(client)
            tg.start_soon(inbox.consume)
            yield
            tg.cancel_scope.cancel()

    async def send(request: Request) -> JSONResponse:
        body = await request.json()
        try:
            target = config.target(str(body["to"]))
            sent = await request.app.state.client.send(target, str(body["text"]))
        except KeyError as exc:
            return JSONResponse({"error": f"missing {exc.args[0]!r}"}, status_code=400)
        except unimsg.UsageError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        except unimsg.RemoteError as exc:
            return JSONResponse({"error": str(exc)}, status_code=502)
        return JSONResponse({"id": sent.id, "conversation": str(sent.conversation)})

    async def messages(request: Request) -> JSONResponse:
        return JSONResponse(list(request.app.state.inbox.messages))

    return Starlette(
        routes=[
            HttpRoute("/send", send, methods=["POST"]),
            HttpRoute("/messages", messages),
        ],
        lifespan=lifespan,
    )


def fake_config(net: FakeNetwork) -> unimsg.Config:
    """A bot on the fake network with Alice (Signal) and an ops room (Matrix)."""
    signal = net.adapter("signal", "signal:+15550000100", display_name="App")
    matrix = net.adapter("matrix", "matrix:@app:fake.test", display_name="App")
    net.adapter("signal", "signal:+15550000001", display_name="Alice")
    room = net.create_room("matrix", creator=matrix.account, name="ops")
    return unimsg.Config(
        adapters=(signal, matrix),
        routes=(
            unimsg.Route(match="person", via="signal"),
            unimsg.Route(match="group", via="matrix"),
        ),
        contacts=unimsg.ContactBook.of(
            unimsg.Contact.of("alice", "signal:+15550000001"),
            unimsg.Contact.of("ops", room),
        ),
        fake_network=net,
    )


def _app() -> Starlette:
    if os.environ.get("UNIMSG_CONFIG"):
        return create_app(unimsg.load_config())
    return create_app(fake_config(FakeNetwork()))


app = _app()
