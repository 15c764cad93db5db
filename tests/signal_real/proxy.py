"""A TCP relay in front of a daemon that loses the answer to the first ``send``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio
import anyio.abc


@dataclass
class AnswerDroppingProxy:
    port: int = 0
    #: ``send`` requests relayed to the daemon, over every connection.
    sends: int = 0
    #: Connections closed right after relaying a ``send`` (its answer swallowed).
    dropped: int = 0


@asynccontextmanager
async def answer_dropping_proxy(host: str, port: int) -> AsyncIterator[AnswerDroppingProxy]:
    """The first ``send`` reaches the daemon; its connection then closes unanswered."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    proxy = AnswerDroppingProxy(port=listener.extra(anyio.abc.SocketAttribute.local_port))

    async def handle(client: anyio.abc.SocketStream) -> None:
        swallow = False
        upstream = await anyio.connect_tcp(host, port)
        async with client, upstream, anyio.create_task_group() as tg:

            async def down() -> None:
                async for data in upstream:
                    if not swallow:
                        await client.send(data)

            async def up() -> None:
                nonlocal swallow
                async for data in client:
                    sends = data.count(b'"method":"send"')
                    proxy.sends += sends
                    if sends and not proxy.dropped:
                        proxy.dropped += 1
                        swallow = True  # this connection's answers are lost from now on
                        await upstream.send(data)
                        await anyio.sleep(0.5)  # the daemon has it
                        tg.cancel_scope.cancel()
                        return
                    await upstream.send(data)

            tg.start_soon(down)
            tg.start_soon(up)

    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        yield proxy
        tg.cancel_scope.cancel()
