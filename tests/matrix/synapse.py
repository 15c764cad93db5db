"""Access to the Synapse servers started by scripts/synapse.py: instance info, users, faults."""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
import json
import os
import secrets
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import anyio.to_thread
import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
# Resolved: .cache may be a link to a cache shared by several checkouts.
CACHE = (ROOT / ".cache").resolve() / "synapse"


@dataclass(frozen=True)
class SynapseInstance:
    profile: str
    url: str
    server_name: str
    pid: int
    registration_shared_secret: str = field(repr=False)


@dataclass(frozen=True)
class RegisteredUser:
    user_id: str
    device_id: str
    homeserver: str
    password: str = field(repr=False)
    access_token: str = field(repr=False)

    @property
    def localpart(self) -> str:
        return self.user_id[1:].split(":", 1)[0]


# The make_matrix_user fixture: (localpart=None, password=None, admin=False, instance=None).
MakeUser = Callable[..., Awaitable[RegisteredUser]]


def load_instance(profile: str = "relaxed") -> SynapseInstance | None:
    """The running instance of ``profile`` as recorded by ``scripts/synapse.py start``."""
    try:
        data = json.loads((CACHE / profile / "instance.json").read_text())
    except (OSError, ValueError):
        return None
    return SynapseInstance(
        profile=profile,
        url=data["url"],
        server_name=data["server_name"],
        pid=data["pid"],
        registration_shared_secret=data["registration_shared_secret"],
    )


def is_up(instance: SynapseInstance, timeout: float = 5.0) -> bool:
    try:
        resp = httpx.get(f"{instance.url}/_matrix/client/versions", timeout=timeout)
    except httpx.HTTPError:
        return False
    return resp.status_code == 200


def unique_localpart(prefix: str = "u") -> str:
    # Random rather than counted: servers may be kept across runs with --keep-data.
    return f"{prefix}{uuid.uuid4().hex[:12]}"


async def register_user(
    instance: SynapseInstance,
    localpart: str | None = None,
    password: str | None = None,
    admin: bool = False,
) -> RegisteredUser:
    """Create a user through the shared-secret admin API, which is not rate limited."""
    localpart = localpart or unique_localpart()
    password = password or secrets.token_urlsafe(16)
    endpoint = f"{instance.url}/_synapse/admin/v1/register"
    async with httpx.AsyncClient(timeout=30) as http:
        nonce_resp = await http.get(endpoint)
        nonce_resp.raise_for_status()
        nonce = nonce_resp.json()["nonce"]
        mac = hmac.new(
            instance.registration_shared_secret.encode(),
            b"\0".join(
                [
                    nonce.encode(),
                    localpart.encode(),
                    password.encode(),
                    b"admin" if admin else b"notadmin",
                ]
            ),
            hashlib.sha1,
        ).hexdigest()
        body = {
            "nonce": nonce,
            "username": localpart,
            "password": password,
            "admin": admin,
            "mac": mac,
        }
        resp = await http.post(endpoint, json=body)
    if resp.status_code != 200:
        raise RuntimeError(f"registering {localpart!r} failed: {resp.status_code} {resp.text}")
    data = resp.json()
    return RegisteredUser(
        user_id=data["user_id"],
        device_id=data["device_id"],
        homeserver=instance.url,
        password=password,
        access_token=data["access_token"],
    )


def _control() -> ModuleType:
    """scripts/synapse.py, loaded by path since scripts/ is not a package."""
    name = "_synapse_control"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / "synapse.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


async def kill_server(profile: str) -> None:
    """SIGKILL the profile's server as a crash would; its database stays for a restart."""
    await anyio.to_thread.run_sync(_control().kill, profile)


async def restart_server(profile: str, keep_data: bool = True) -> SynapseInstance:
    """Start the profile's server again (stopping it first if it runs) on the same port."""
    await anyio.to_thread.run_sync(lambda: _control().restart(profile, keep_data=keep_data))
    instance = load_instance(profile)
    assert instance is not None
    return instance


START_HINT = "python3 scripts/synapse.py install && python3 scripts/synapse.py start"


def require_instance(profile: str) -> SynapseInstance:
    """The running ``profile`` server; skip without it, but fail under CI."""
    hint = START_HINT if profile == "relaxed" else f"{START_HINT} --profile {profile}"
    instance = load_instance(profile)
    if instance is None:
        problem = f"no {profile!r} instance recorded under .cache/synapse/{profile}/"
    elif not is_up(instance):
        problem = f"the {profile!r} instance at {instance.url} does not answer"
    else:
        return instance
    if os.environ.get("CI"):
        # A skipped homeserver suite in CI would pass while testing nothing.
        pytest.fail(f"Synapse is required in CI: {problem}; run `{hint}` first", pytrace=False)
    pytest.skip(f"Synapse is not running: start it with `{hint}`")
