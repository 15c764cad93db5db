"""The test homeservers behave as the Matrix tests assume, checked with raw matrix-nio and httpx."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import httpx
import nio
import pytest

from .synapse import MakeUser, RegisteredUser, SynapseInstance

pytestmark = pytest.mark.asyncio

# nio's defaults retry 429s and connection errors forever, which turns failures into hangs.
NIO_CONFIG = nio.AsyncClientConfig(
    encryption_enabled=False, max_limit_exceeded=0, max_timeouts=0, request_timeout=30
)


def nio_client(user: RegisteredUser) -> nio.AsyncClient:
    client = nio.AsyncClient(user.homeserver, user.user_id, config=NIO_CONFIG)
    client.restore_login(user.user_id, user.device_id, user.access_token)
    return client


async def sync_until(
    client: nio.AsyncClient, done: Callable[[nio.SyncResponse], bool], within: float = 10.0
) -> nio.SyncResponse:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        resp = await client.sync(timeout=1000)
        assert isinstance(resp, nio.SyncResponse), resp
        if done(resp):
            return resp
    pytest.fail(f"{client.user_id} did not see the expected sync within {within} s")


async def test_message_reaches_invited_user(make_matrix_user: MakeUser) -> None:
    alice, bob = await make_matrix_user(), await make_matrix_user()
    a, b = nio_client(alice), nio_client(bob)
    try:
        created = await a.room_create(name="smoke")
        assert isinstance(created, nio.RoomCreateResponse), created
        room_id = created.room_id
        invited = await a.room_invite(room_id, bob.user_id)
        assert isinstance(invited, nio.RoomInviteResponse), invited

        await sync_until(b, lambda r: room_id in r.rooms.invite)
        joined = await b.join(room_id)
        assert isinstance(joined, nio.JoinResponse), joined

        text = f"hello {uuid.uuid4().hex}"
        sent = await a.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": text})
        assert isinstance(sent, nio.RoomSendResponse), sent

        def sent_event(resp: nio.SyncResponse) -> nio.Event | None:
            room = resp.rooms.join.get(room_id)
            events = room.timeline.events if room else []
            return next((e for e in events if e.event_id == sent.event_id), None)

        event = sent_event(await sync_until(b, lambda r: sent_event(r) is not None))
        assert isinstance(event, nio.RoomMessageText), event
        assert event.body == text
        assert event.sender == alice.user_id
    finally:
        await a.close()
        await b.close()


async def _send_burst(user: RegisteredUser, count: int) -> list[httpx.Response]:
    """Create a room and fire ``count`` sends at it, stopping at the first 429."""
    headers = {"Authorization": f"Bearer {user.access_token}"}
    async with httpx.AsyncClient(base_url=user.homeserver, headers=headers, timeout=30) as http:
        created = await http.post("/_matrix/client/v3/createRoom", json={})
        assert created.status_code == 200, created.text
        room_id = created.json()["room_id"]
        responses = []
        for i in range(count):
            resp = await http.put(
                f"/_matrix/client/v3/rooms/{room_id}/send/m.room.message/{uuid.uuid4().hex}",
                json={"msgtype": "m.text", "body": f"burst {i}"},
            )
            responses.append(resp)
            if resp.status_code != 200:
                break
    return responses


async def test_stock_profile_rate_limits_sends(
    synapse_stock: SynapseInstance, make_matrix_user: MakeUser
) -> None:
    user = await make_matrix_user(instance=synapse_stock)
    responses = await _send_burst(user, 15)

    limited = responses[-1]
    assert limited.status_code == 429, [r.status_code for r in responses]
    assert all(r.status_code == 200 for r in responses[:-1])
    body = limited.json()
    assert body["errcode"] == "M_LIMIT_EXCEEDED"
    assert isinstance(body["retry_after_ms"], int)
    assert body["retry_after_ms"] > 0


async def test_relaxed_profile_does_not_rate_limit(
    synapse: SynapseInstance, make_matrix_user: MakeUser
) -> None:
    user = await make_matrix_user()
    responses = await _send_burst(user, 30)
    assert [r.status_code for r in responses] == [200] * 30

    # Stock Synapse locks an address out after 5 logins; tests log in far more often than that.
    async with httpx.AsyncClient(base_url=synapse.url, timeout=30) as http:
        for _ in range(6):
            resp = await http.post(
                "/_matrix/client/v3/login",
                json={
                    "type": "m.login.password",
                    "identifier": {"type": "m.id.user", "user": user.user_id},
                    "password": user.password,
                },
            )
            assert resp.status_code == 200, resp.text
