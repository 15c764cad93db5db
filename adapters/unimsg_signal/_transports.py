"""Byte streams to signal-cli: TCP, UNIX socket, and ``signal-cli jsonRpc`` as a child.

Over HTTP, `http_client` configures an httpx client for ``daemon --http``'s
check and event stream (httpx runs on asyncio and trio through anyio), and
`http_lane` a lean connection for the JSON-RPC posts.
"""

from __future__ import annotations

import base64
import logging
import re
import ssl
import subprocess
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import anyio
import anyio.abc
import httpx
import sniffio

from unimsg import ConnectError

from . import _asyncio_stream
from ._config import Endpoint, SignalConfig
from ._http_lane import HttpLane

__all__ = [
    "HTTP_LANES",
    "STREAM_ERRORS",
    "ProcessStream",
    "http_client",
    "http_lane",
    "open_line_stream",
    "stdio_command",
]

log = logging.getLogger("unimsg.signal")

STREAM_ERRORS = (
    anyio.EndOfStream,
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    OSError,
)
_HINTS = {
    "tcp": "is 'signal-cli daemon --tcp' running there?",
    "unix": "is 'signal-cli daemon --socket' running, and may this user open the socket?",
    "stdio": "is signal-cli installed and on PATH?",
}


def stdio_command(endpoint: Endpoint, account: str, multi_account: bool) -> list[str]:
    """The child's command line: ``COMMAND [-a NUMBER] jsonRpc --receive-mode=manual``.

    A command that already names the ``jsonRpc`` subcommand runs as given, so
    wrappers and emulators with their own arguments fit too.
    """
    command = list(endpoint.command)
    if any(part.lower() == "jsonrpc" for part in command[1:]):
        return command
    account_args = [] if multi_account else ["-a", account]
    return [*command, *account_args, "jsonRpc", "--receive-mode=manual"]


# Whatever looks like a credential in the child's stderr: captcha tokens, long
# base64/hex runs (keys, tokens), "password=..." pairs.
_SECRET = re.compile(
    r"signalcaptcha://\S+|[A-Za-z0-9+/_=-]{32,}|((?:password|token|pin|secret)\w*\s*[:=]\s*)\S+",
    re.IGNORECASE,
)


def scrub(line: str) -> str:
    """``line`` with anything that may be a secret replaced."""
    return _SECRET.sub(lambda m: f"{m.group(1) or ''}[redacted]", line)


class ProcessStream(anyio.abc.ByteStream):
    """A child's stdin and stdout as one byte stream; closing it ends the child.

    Its stderr is drained by `pump_stderr` (run it in a task) into the last few
    lines, which say why a child that ends early ended (``User +N is not registered.``).
    """

    def __init__(self, process: anyio.abc.Process, grace: float = 5.0) -> None:
        assert process.stdin is not None and process.stdout is not None
        self._process = process
        self._stdin = process.stdin
        self._stdout = process.stdout
        self._grace = grace
        self.stderr_tail: deque[str] = deque(maxlen=5)
        self._stderr_done = anyio.Event()
        if process.stderr is None:
            self._stderr_done.set()

    async def pump_stderr(self) -> None:
        """Keep the last lines of the child's stderr (and keep the pipe from filling)."""
        stderr = self._process.stderr
        if stderr is None:
            return
        pending = b""
        try:
            while True:
                try:
                    chunk = await stderr.receive()
                except STREAM_ERRORS:
                    break
                *lines, pending = (pending + chunk).split(b"\n")
                pending = pending[-4096:]
                for raw in lines:
                    self._keep(raw)
            self._keep(pending)
        finally:
            self._stderr_done.set()

    def _keep(self, raw: bytes) -> None:
        text = raw.decode("utf-8", errors="replace").strip()
        if text:
            line = scrub(text)[:300]
            self.stderr_tail.append(line)
            log.debug("signal-cli stderr: %s", line)

    async def exit_report(self) -> str:
        """``"; exit status N; stderr: ..."`` once the child is gone (waits a little)."""
        with anyio.move_on_after(self._grace):
            await self._process.wait()
            await self._stderr_done.wait()
        status = self._process.returncode
        report = "" if status is None else f"; exit status {status}"
        if self.stderr_tail:
            report += "; stderr: " + " | ".join(self.stderr_tail)
        return report

    async def receive(self, max_bytes: int = 65536) -> bytes:
        return await self._stdout.receive(max_bytes)

    async def send(self, item: bytes) -> None:
        await self._stdin.send(item)

    async def send_eof(self) -> None:
        await self._stdin.aclose()

    async def aclose(self) -> None:
        with anyio.CancelScope(shield=True):
            # EOF on stdin is signal-cli's way to finish; kill only a child that hangs.
            with suppress(*STREAM_ERRORS):
                await self._stdin.aclose()
            with anyio.move_on_after(self._grace):
                await self._process.wait()
            if self._process.returncode is None:
                log.warning("signal-cli did not exit after EOF on stdin; killing it")
                with suppress(ProcessLookupError):
                    self._process.kill()
                await self._process.wait()
            with suppress(*STREAM_ERRORS):
                await self._stdout.aclose()
            if self._process.stderr is not None:
                with suppress(*STREAM_ERRORS):
                    await self._process.stderr.aclose()


@asynccontextmanager
async def open_line_stream(config: SignalConfig) -> AsyncIterator[anyio.abc.ByteStream]:
    """Connect to a line-framed endpoint; `ConnectError` when that fails."""
    endpoint = config.url
    stream: anyio.abc.ByteStream
    try:
        with anyio.fail_after(config.connect_timeout):
            if endpoint.kind == "tcp":
                assert endpoint.host is not None and endpoint.port is not None
                if sniffio.current_async_library() == "asyncio":
                    stream = await _asyncio_stream.connect_tcp(endpoint.host, endpoint.port)
                else:
                    stream = await anyio.connect_tcp(endpoint.host, endpoint.port)
            elif endpoint.kind == "unix":
                assert endpoint.path is not None
                if sniffio.current_async_library() == "asyncio":
                    stream = await _asyncio_stream.connect_unix(endpoint.path)
                else:
                    stream = await anyio.connect_unix(endpoint.path)
            elif endpoint.kind == "stdio":
                command = stdio_command(endpoint, config.account, config.multi_account)
                log.debug("starting %s", command[0])
                process = await anyio.open_process(
                    command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
                )
                stream = ProcessStream(process)
            else:
                raise ConnectError(f"{endpoint} is not a line-framed endpoint")
    except (OSError, TimeoutError) as exc:
        hint = _HINTS.get(endpoint.kind, "")
        reason = str(exc) or "timed out"
        raise ConnectError(f"cannot connect to signal-cli at {endpoint}: {reason}; {hint}") from exc
    try:
        yield stream
    finally:
        with anyio.CancelScope(shield=True), suppress(*STREAM_ERRORS):
            await stream.aclose()


#: Requests over HTTP in flight at once, each on a client of its own. A
#: single-threaded daemon gains nothing past a few.
HTTP_LANES = 4


def http_lane(config: SignalConfig) -> HttpLane:
    """A lane for ``POST /api/v1/rpc``, with the same credentials as `http_client`."""
    assert config.url.url is not None
    url = httpx.URL(config.url.url)
    headers = [("Accept", "application/json")]
    if config.http_token is not None:
        headers.append(("Authorization", f"Bearer {config.http_token}"))
    elif config.http_username is not None:
        pair = f"{config.http_username}:{config.http_password or ''}".encode()
        headers.append(("Authorization", "Basic " + base64.b64encode(pair).decode()))
    tls = ssl.create_default_context() if url.scheme == "https" else None
    return HttpLane(
        url.host,
        url.port or (443 if tls is not None else 80),
        url.path.rstrip("/") + "/api/v1/rpc",
        headers,
        tls=tls,
        connect_timeout=config.connect_timeout,
    )


def http_client(config: SignalConfig) -> httpx.AsyncClient:
    """An httpx client for ``daemon --http``'s check and event stream, with the
    reverse proxy's credentials if any."""
    headers = {"Accept": "application/json"}
    auth: httpx.Auth | None = None
    if config.http_token is not None:
        headers["Authorization"] = f"Bearer {config.http_token}"
    elif config.http_username is not None:
        auth = httpx.BasicAuth(config.http_username, config.http_password or "")
    assert config.url.url is not None
    return httpx.AsyncClient(
        base_url=config.url.url,
        headers=headers,
        auth=auth,
        timeout=httpx.Timeout(config.request_timeout, connect=config.connect_timeout),
        limits=httpx.Limits(max_connections=1, max_keepalive_connections=1, keepalive_expiry=30.0),
        # The lanes connect directly: the event stream must reach the same daemon.
        trust_env=False,
    )
