"""A minimal line-framed JSON-RPC client for driving the emulator in tests."""

from __future__ import annotations

from typing import Any

import anyio
import anyio.abc
from unimsg_signal._jsonrpc import ErrorResponse, Event, JsonRpcConnection, Notification, Response

ALICE, BOB, CAROL = "+15550000001", "+15550000002", "+15550000003"


class LineClient:
    def __init__(self, stream: anyio.abc.ByteStream) -> None:
        self.stream = stream
        self.conn = JsonRpcConnection()
        self.pending: list[Event] = []

    async def _fill(self) -> None:
        self.pending.extend(self.conn.receive_data(await self.stream.receive()))

    async def request(self, method: str, params: Any = None) -> Response | ErrorResponse:
        rid, line = self.conn.send_request(method, params)
        await self.stream.send(line)
        return await self.response(rid)

    async def response(self, rid: Any) -> Response | ErrorResponse:
        with anyio.fail_after(5):
            while True:
                for event in self.pending:
                    if isinstance(event, (Response, ErrorResponse)) and event.id == rid:
                        self.pending.remove(event)
                        return event
                await self._fill()

    async def call(self, method: str, params: Any = None) -> Any:
        event = await self.request(method, params)
        assert isinstance(event, Response), event
        return event.result

    async def error(self, method: str, params: Any = None) -> ErrorResponse:
        event = await self.request(method, params)
        assert isinstance(event, ErrorResponse), event
        return event

    async def notification(self, limit: float = 5) -> Notification:
        with anyio.fail_after(limit):
            while True:
                for event in self.pending:
                    if isinstance(event, Notification):
                        self.pending.remove(event)
                        return event
                await self._fill()

    async def envelope(self, limit: float = 5, kind: str | None = None) -> dict[str, Any]:
        """The next envelope, unwrapping subscription payloads.

        With ``kind`` (e.g. ``"dataMessage"``) envelopes without it are skipped.
        """
        with anyio.fail_after(limit):
            while True:
                params = (await self.notification(limit)).params
                assert isinstance(params, dict)
                payload = params.get("result", params)
                assert isinstance(payload, dict)
                envelope = payload["envelope"]
                assert isinstance(envelope, dict)
                if kind is None or kind in envelope:
                    return envelope

    async def no_notification(self, wait: float = 0.1) -> None:
        with anyio.move_on_after(wait):
            note = await self.notification(wait * 2)
            raise AssertionError(f"unexpected notification {note}")

    async def aclose(self) -> None:
        await self.stream.aclose()
