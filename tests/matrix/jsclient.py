"""An independent Matrix client for the tests: matrix-js-sdk with its Rust crypto, in Node.

``tests/jsclient/driver.mjs`` runs one device per process and answers one JSON line per
command; `JsClient` speaks that protocol. Installed by ``python3 scripts/jsclient.py install``.
What it reports (shields, device and user verification, secret storage, backups) is what
Element, which uses the same SDK, would show.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import pytest

from .synapse import ROOT, RegisteredUser

DRIVER = ROOT / "tests" / "jsclient" / "driver.mjs"
INSTALL_HINT = "python3 scripts/jsclient.py install"


def _modules_dir() -> Path:
    lock = ROOT / "tests" / "jsclient" / "package-lock.json"
    digest = hashlib.sha256(lock.read_bytes()).hexdigest()[:16]
    return ROOT / ".cache" / "jsclient" / digest / "node_modules"


def require_jsclient() -> Path:
    """The installed node_modules; skip without it, but fail under CI."""
    modules = _modules_dir()
    if shutil.which("node") is not None and (modules.parent / ".unimsg-installed").exists():
        return modules
    problem = f"matrix-js-sdk is not installed under {modules.parent}"
    if os.environ.get("CI"):
        pytest.fail(f"{problem}; run `{INSTALL_HINT}` first", pytrace=False)
    pytest.skip(f"{problem}: install it with `{INSTALL_HINT}`")


class JsClientError(Exception):
    """A command the independent client refused or failed."""


class JsClient:
    """One matrix-js-sdk device, driven command by command."""

    def __init__(self, process: asyncio.subprocess.Process, user: RegisteredUser) -> None:
        self._process = process
        self._ids = itertools.count(1)
        self._lock = asyncio.Lock()
        self.user = user
        self.device_id = ""
        self.ed25519 = ""

    @property
    def user_id(self) -> str:
        return self.user.user_id

    async def call(self, cmd: str, *, wait: float = 60.0, **args: Any) -> Any:
        """Run ``cmd`` with ``args``; the driver's result, or `JsClientError`."""
        async with self._lock:
            assert self._process.stdin is not None and self._process.stdout is not None
            request_id = next(self._ids)
            line = json.dumps({"id": request_id, "cmd": cmd, **args}) + "\n"
            self._process.stdin.write(line.encode())
            await self._process.stdin.drain()
            while True:
                raw = await asyncio.wait_for(self._process.stdout.readline(), wait)
                if not raw:
                    raise JsClientError(f"the js client exited during {cmd!r}")
                reply = json.loads(raw)
                if reply.get("id") == request_id:
                    break
        if not reply["ok"]:
            raise JsClientError(f"{cmd}: {reply['error']}")
        return reply["result"]

    async def _start(self) -> None:
        assert self._process.stdout is not None
        hello = json.loads(await asyncio.wait_for(self._process.stdout.readline(), 60))
        assert hello == {"id": None, "ok": True, "result": "ready"}, hello
        user = self.user
        started = await self.call(
            "start",
            homeserver=user.homeserver,
            user_id=user.user_id,
            access_token=user.access_token,
            device_id=user.device_id,
        )
        self.device_id, self.ed25519 = started["device_id"], started["ed25519"]

    async def close(self) -> None:
        process = self._process
        if process.returncode is None:
            with suppress(JsClientError, TimeoutError, ConnectionError):
                await self.call("stop", wait=10)
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()

    # -- conveniences for what most tests ask -------------------------------------------

    async def create_room(self, *, invite: list[str], encrypted: bool = True) -> str:
        result = await self.call("create_room", invite=invite, encrypted=encrypted, name="js")
        room: str = result["room_id"]
        return room

    async def send(self, room_id: str, body: str) -> str:
        event: str = (await self.call("send", room_id=room_id, body=body))["event_id"]
        return event

    async def wait_event(self, room_id: str, within: float = 20.0, **match: Any) -> dict[str, Any]:
        event: dict[str, Any] = await self.call(
            "wait_event", wait=within + 10, room_id=room_id, timeout_ms=within * 1000, **match
        )
        return event

    async def device_status(self, user_id: str, device_id: str) -> dict[str, Any] | None:
        status: dict[str, Any] | None = await self.call(
            "device_status", user_id=user_id, device_id=device_id, refresh=True
        )
        return status

    async def master_key(self, user_id: str) -> str | None:
        """The user's cross-signing master public key as the server publishes it."""
        answer = await self.call("keys_query", user_ids=[user_id])
        master = answer.get("master_keys", {}).get(user_id)
        if master is None:
            return None
        key: str = next(iter(master["keys"].values()))
        return key


MakeJsClient = Callable[[RegisteredUser], Awaitable[JsClient]]


@asynccontextmanager
async def js_clients(stderr_dir: Path) -> AsyncIterator[MakeJsClient]:
    """A factory of started `JsClient` s, all stopped at exit."""
    modules = require_jsclient()
    clients: list[JsClient] = []

    async def make(user: RegisteredUser) -> JsClient:
        log = (stderr_dir / f"jsclient-{user.localpart}-{len(clients)}.log").open("wb")
        try:
            process = await asyncio.create_subprocess_exec(
                "node",
                str(DRIVER),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                env={**os.environ, "JSCLIENT_MODULES": str(modules)},
                limit=16 * 1024 * 1024,
            )
        finally:
            log.close()
        client = JsClient(process, user)
        clients.append(client)
        await client._start()
        return client

    try:
        yield make
    finally:
        for client in clients:
            await client.close()
