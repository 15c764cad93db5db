"""Matrix helpers shared by the scenarios: raw room access for the server's own count."""

from __future__ import annotations

import collections
from typing import Any
from urllib.parse import quote

import httpx

from tests.matrix.synapse import RegisteredUser


def _headers(user: RegisteredUser) -> dict[str, str]:
    return {"Authorization": f"Bearer {user.access_token}"}


async def join(user: RegisteredUser, room_id: str, homeserver: str | None = None) -> None:
    """Join as ``user`` without an adapter (so no sync position is stored for it)."""
    base = homeserver or user.homeserver
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        resp = await http.post(
            f"/_matrix/client/v3/join/{quote(room_id)}", headers=_headers(user), json={}
        )
    resp.raise_for_status()


async def server_counts(
    user: RegisteredUser, room_id: str, prefix: str
) -> collections.Counter[str]:
    """How many events with each ``body`` starting with ``prefix`` the room holds.

    The homeserver's own view, independent of any client-side de-duplication:
    two events with one body are a duplicate the network really stores.
    """
    counts: collections.Counter[str] = collections.Counter()
    params: dict[str, Any] = {"dir": "b", "limit": 500}
    async with httpx.AsyncClient(base_url=user.homeserver, timeout=60) as http:
        while True:
            resp = await http.get(
                f"/_matrix/client/v3/rooms/{quote(room_id)}/messages",
                headers=_headers(user),
                params=params,
            )
            resp.raise_for_status()
            page = resp.json()
            for event in page.get("chunk", []):
                body = event.get("content", {}).get("body")
                if event.get("type") == "m.room.message" and str(body).startswith(prefix):
                    counts[body] += 1
            if not page.get("chunk") or "end" not in page:
                return counts
            params["from"] = page["end"]
