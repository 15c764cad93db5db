"""The Signal adapter against real daemons with accounts loaded offline (see standin.py).

Every mode: multi-account over TCP, UNIX socket and HTTP+SSE, single-account (``-a``) over TCP,
and ``signal-cli -a NUMBER jsonRpc`` children over stdio. The service stand-in knows ``peer``
(profile and identity key) but cannot hand out pre-keys, so sends fail per recipient.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import anyio
import pytest
from unimsg_signal import SignalAdapter

from unimsg import (
    Address,
    Client,
    DeliveryError,
    SendStatus,
    UnregisteredRecipientError,
)

from .accounts import RemoteUser
from .conftest import ALICE, CAROL, DAVE
from .daemon import RealDaemon, StdioHome, rpc

pytestmark = pytest.mark.anyio
FAST: dict[str, Any] = {
    "min_backoff": 0.05,
    "max_backoff": 0.5,
    "request_timeout": 30.0,
    "connect_timeout": 60.0,
}
NOBODY = "+15550009999"
#: (fixture, transport, account): every transport, multi- and single-account, and stdio.
MODES = [
    ("multi_daemon", "tcp", ALICE),
    ("multi_daemon", "unix", ALICE),
    ("multi_daemon", "http", ALICE),
    ("single_daemon", "tcp", CAROL),
    ("stdio_home", "stdio", DAVE),
]


def _ids(mode: tuple[str, str, str]) -> str:
    return f"{mode[0].split('_')[0]}-{mode[1]}"


@pytest.fixture(params=MODES, ids=_ids)
def make_adapter(request: pytest.FixtureRequest) -> Any:
    fixture, transport, account = request.param
    home: RealDaemon | StdioHome = request.getfixturevalue(fixture)

    def make(**options: Any) -> SignalAdapter:
        make.home = home  # type: ignore[attr-defined]
        make.account = account  # type: ignore[attr-defined]
        url = home.url(account) if isinstance(home, StdioHome) else home.url(transport)
        multi = isinstance(home, RealDaemon) and home.account is None
        return SignalAdapter.create(account, url, multi_account=multi, **{**FAST, **options})

    return make


async def test_contacts_identities_and_trust(make_adapter: Any, peer: RemoteUser) -> None:
    them = Address.signal(peer.aci)
    async with Client(make_adapter()) as client:
        await client.set_disappearing(them, timedelta(hours=1))
        conversation = await client.conversation(them)
        assert conversation.disappearing == timedelta(hours=1)
        assert them in {c.address for c in await client.conversations()}
        state = await client.encryption_state(them)
        assert state.encrypted and them in state.unverified, state
        # Trusting the known key keeps it unverified; the safety number verifies it.
        await client.trust(them)
        assert them in (await client.encryption_state(them)).unverified
        home = make_adapter.home
        if isinstance(home, RealDaemon):
            params = {} if home.account else {"account": make_adapter.account}
            rows = (await anyio.to_thread.run_sync(rpc, home, "listIdentities", params))["result"]
            (row,) = [r for r in rows if r["uuid"] == peer.aci]
            await client.trust(them, row["safetyNumber"])
            assert (await client.encryption_state(them)).trusted
        await client.set_disappearing(them, None)
        assert (await client.conversation(them)).disappearing is None


async def test_send_failures_are_typed_per_recipient(make_adapter: Any, peer: RemoteUser) -> None:
    async with Client(make_adapter()) as client:
        with pytest.raises(UnregisteredRecipientError):
            await client.send(f"signal:{NOBODY}", "anyone?")
        with pytest.raises(DeliveryError) as failed:
            await client.send(Address.signal(peer.aci), "unreachable service")
        assert [(r.recipient, r.status) for r in failed.value.results] == [
            (Address.signal(peer.aci), SendStatus.NETWORK_FAILURE)
        ]


async def test_group_creation(make_adapter: Any) -> None:
    # Someone the service does not know: the group is made, the member's update undelivered.
    them = Address.signal(str(uuid.uuid4()))
    async with Client(make_adapter()) as client:
        group = await client.create_conversation("signal", name="real group", members=[them])
        assert them in group.members
        assert group.address in {c.address for c in await client.conversations()}
        await client.set_disappearing(group.address, timedelta(minutes=5))
        assert (await client.conversation(group.address)).disappearing == timedelta(minutes=5)
