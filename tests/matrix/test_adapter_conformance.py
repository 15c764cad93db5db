"""The adapter conformance kit against a real Synapse."""

from __future__ import annotations

import uuid
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from unimsg_matrix import MatrixAdapter

from unimsg import Adapter, Address, Client
from unimsg.testing import AdapterConformance, ConformancePair

from .fixtures_adapter import MakeUser, adapter_for, unknown_user
from .synapse import RegisteredUser, SynapseInstance


class TestMatrixConformance(AdapterConformance):
    @pytest.fixture
    def anyio_backend(self) -> str:
        return "asyncio"  # matrix-nio needs asyncio

    @pytest.fixture
    async def conformance_pair(
        self, synapse: SynapseInstance, make_matrix_user: MakeUser, tmp_path: Path
    ) -> ConformancePair:
        users = {}
        for _ in range(2):
            user = await make_matrix_user()
            users[Address.matrix(user.user_id)] = user

        def adapter(user: RegisteredUser) -> MatrixAdapter:
            return adapter_for(user, tmp_path / user.localpart)

        def reopen(old: Adapter) -> Adapter:
            return adapter(users[old.account])

        async def change_identity(old: Adapter) -> None:
            # A login on a new device: its keys stay on the server after it stops.
            user = users[old.account]
            phone = MatrixAdapter(
                homeserver=user.homeserver,
                user_id=user.user_id,
                password=user.password,
                store_path=tmp_path / f"{user.localpart}-phone",
            )
            async with Client(phone):
                pass

        async def inject_garbled(receiver: Adapter, room: Address) -> None:
            # Synapse checks body and msgtype; an image with a number for its URL gets through.
            sender = next(u for a, u in users.items() if a != receiver.account)
            url = (
                f"{sender.homeserver}/_matrix/client/v3/rooms/{quote(room.id)}"
                f"/send/m.room.message/{uuid.uuid4().hex}"
            )
            async with httpx.AsyncClient(timeout=30) as http:
                answer = await http.put(
                    url,
                    json={"msgtype": "m.image", "body": "x.png", "url": 42, "info": "none"},
                    headers={"Authorization": f"Bearer {sender.access_token}"},
                )
                assert answer.status_code == 200, answer.text

        first, second = users.values()
        return ConformancePair(
            first=adapter(first),
            second=adapter(second),
            unknown_user=unknown_user(synapse),
            timeout=15.0,
            reopen=reopen,
            change_identity=change_identity,
            inject_garbled=inject_garbled,
            secrets=[s for u in users.values() for s in (u.password, u.access_token)],
        )
