"""The Synapse instances of scripts/synapse.py, seen from the benchmarks: users and rooms.

Everything goes through raw HTTP so that setting up a benchmark costs no
client under test anything, and the shared-secret admin API registers users
without login rate limits.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "synapse"
START_HINT = "python3 scripts/synapse.py start --profile relaxed"


def instance(profile: str = "relaxed") -> dict[str, Any] | None:
    """The running instance of ``profile`` (url, server_name, secret), or None."""
    try:
        data: dict[str, Any] = json.loads((CACHE / profile / "instance.json").read_text())
    except (OSError, ValueError):
        return None
    try:
        answer = httpx.get(f"{data['url']}/_matrix/client/versions", timeout=5)
    except httpx.HTTPError:
        return None
    return data if answer.status_code == 200 else None


def register(server: dict[str, Any], prefix: str = "bench") -> dict[str, str]:
    """A fresh user: user_id, password, and the device_id and access_token of a first device."""
    localpart = f"{prefix}{uuid.uuid4().hex[:10]}"
    password = secrets.token_urlsafe(16)
    endpoint = f"{server['url']}/_synapse/admin/v1/register"
    with httpx.Client(timeout=30) as http:
        nonce = http.get(endpoint).raise_for_status().json()["nonce"]
        mac = hmac.new(
            server["registration_shared_secret"].encode(),
            b"\0".join([nonce.encode(), localpart.encode(), password.encode(), b"notadmin"]),
            hashlib.sha1,
        ).hexdigest()
        body = {"nonce": nonce, "username": localpart, "password": password, "mac": mac}
        data = http.post(endpoint, json=body).raise_for_status().json()
    return {
        "password": password,
        "user_id": data["user_id"],
        "device_id": data["device_id"],
        "access_token": data["access_token"],
    }


class Http:
    """A tiny synchronous client-server API client for set-up work."""

    def __init__(self, url: str, user: dict[str, str]) -> None:
        self.user = user
        self._http = httpx.Client(
            base_url=f"{url}/_matrix/client/v3",
            headers={"Authorization": f"Bearer {user['access_token']}"},
            timeout=60,
        )

    def __enter__(self) -> Http:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    def create_room(self, *, name: str, invite: Sequence[str] = (), encrypted: bool = False) -> str:
        state: list[dict[str, Any]] = []
        if encrypted:
            state.append(
                {
                    "type": "m.room.encryption",
                    "state_key": "",
                    "content": {"algorithm": "m.megolm.v1.aes-sha2"},
                }
            )
        body = {
            "name": name,
            "preset": "private_chat",
            "invite": list(invite),
            "initial_state": state,
        }
        answer = self._http.post("/createRoom", json=body).raise_for_status()
        room_id: str = answer.json()["room_id"]
        return room_id

    def join(self, room_id: str) -> None:
        self._http.post(f"/join/{room_id}", json={}).raise_for_status()


def login(server: dict[str, Any], user: dict[str, str], device: str = "bench") -> dict[str, str]:
    """A new device of ``user``: a copy of it with that device's id and access token.

    A client that starts with an empty store needs a device of its own: its
    fresh keys could not replace the uploaded keys of an existing one.
    """
    body = {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": user["user_id"]},
        "password": user["password"],
        "initial_device_display_name": device,
    }
    answer = httpx.post(f"{server['url']}/_matrix/client/v3/login", json=body, timeout=60)
    data = answer.raise_for_status().json()
    return {**user, "device_id": data["device_id"], "access_token": data["access_token"]}
