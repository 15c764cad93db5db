"""Losing the homeserver mid-sync: reconnect with backoff, report it, lose nothing."""

from __future__ import annotations

import dataclasses

import anyio
import httpx
import pytest

from unimsg import (
    AuthenticationError,
    Client,
    ConnectionState,
    ConnectionStateChanged,
    MessageReceived,
)
from unimsg.testing._waiting import EventWaiter

from .fixtures_adapter import CuttableProxy, MakeAdapter, MakeUser, make_adapter, proxy, store_root

__all__ = ["make_adapter", "proxy", "store_root"]


@pytest.mark.asyncio
async def test_connection_loss_is_reported_and_recovered(
    make_matrix_user: MakeUser, make_adapter: MakeAdapter, proxy: CuttableProxy
) -> None:
    alice_user, bob_user = await make_matrix_user(), await make_matrix_user()
    behind_proxy = dataclasses.replace(alice_user, homeserver=proxy.url)
    alice = make_adapter(behind_proxy, max_backoff=1.0, request_timeout=5.0)
    bob = make_adapter(bob_user)
    async with Client(alice) as a, Client(bob) as b:
        room = await a.create_conversation("matrix", name="flaky", members=[bob.account])
        await b.join(room.address)
        inbox = EventWaiter(a, 15)
        proxy.cut()
        lost = await inbox.next(ConnectionStateChanged)
        assert lost.state is ConnectionState.RECONNECTING and lost.reason
        for i in range(3):
            await b.send(room.address, f"while cut {i}")
        proxy.restore()
        back = await inbox.next(ConnectionStateChanged)
        assert back.state is ConnectionState.CONNECTED
        seen = [
            (await inbox.next(MessageReceived, lambda e: e.text.startswith("while cut"))).text
            for _ in range(3)
        ]
        assert seen == [f"while cut {i}" for i in range(3)]
        await a.send(room.address, "still here")


@pytest.mark.asyncio
async def test_revoked_token_ends_the_client_with_authentication_error(
    make_matrix_user: MakeUser, make_adapter: MakeAdapter
) -> None:
    user = await make_matrix_user()
    failure: BaseException | None = None
    try:
        async with Client(make_adapter(user)):
            async with httpx.AsyncClient(base_url=user.homeserver) as http:
                headers = {"Authorization": f"Bearer {user.access_token}"}
                resp = await http.post("/_matrix/client/v3/logout", headers=headers, json={})
                assert resp.status_code == 200, resp.text
            with anyio.fail_after(20):
                await anyio.sleep_forever()
    except BaseException as exc:
        failure = exc
    while isinstance(failure, BaseExceptionGroup) and len(failure.exceptions) == 1:
        failure = failure.exceptions[0]
    assert isinstance(failure, AuthenticationError), repr(failure)
    assert user.access_token not in str(failure)
