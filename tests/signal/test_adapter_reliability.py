"""Signal adapter reliability on the emulator: restarts that fail, on-connection mode,
rate limits and lost answers that must not be retried blindly, back-pressure."""

from __future__ import annotations

import os
import subprocess
import sys
import tracemalloc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import anyio.abc
import pytest
from adapter_fixtures import ALICE, BOB, CAROL, FAST, rig
from unimsg_signal import RateLimitedOutcomeUnknownError, SignalAdapter
from unimsg_signal.emulator import EmulatedNetwork, ReceiveMode

from unimsg import (
    Address,
    Client,
    ConnectError,
    ConnectionState,
    ConnectionStateChanged,
    MessageReceived,
    OutcomeUnknownError,
    RateLimitedError,
)
from unimsg.testing import EventWaiter

pytestmark = pytest.mark.anyio

HERE = Path(__file__).parent
C = Address.signal(CAROL)
RATE_429 = (
    "Failed to send message: [429] Rate limit exceeded: 429 (RateLimitException) "
    "(UnexpectedErrorException)"
)


def texts(network: EmulatedNetwork, number: str) -> list[str | None]:
    """The texts waiting on the server for an account nobody receives for."""
    return [
        p["envelope"].get("dataMessage", {}).get("message") for p in network.take_pending(number)
    ]


async def test_restart_failing_in_the_handshake_keeps_retrying(tmp_path: Path) -> None:
    starts = tmp_path / "starts"
    async with rig("tcp") as r:
        await r.serve(BOB)
        port = r.urls[BOB].rsplit(":", 1)[1]
        url = f"stdio:{sys.executable} {HERE / 'flaky_child.py'} {starts} {port} jsonRpc"
        adapter = SignalAdapter.create(BOB, url, **{**FAST, "give_up_after": 2.0})

        async def lives_through_failed_restarts() -> None:
            async with Client(adapter) as bob:
                inbox = EventWaiter(bob, 10)
                r.network.faults.drop_connections()
                down = await inbox.next(ConnectionStateChanged)
                assert down.state is ConnectionState.RECONNECTING
                # Before the fix the first failed restart ended run() at once.
                with anyio.fail_after(30):
                    while len(starts.read_text().splitlines()) < 5:  # noqa: ASYNC110
                        await anyio.sleep(0.05)
                await anyio.sleep_forever()

        with pytest.raises(ConnectError, match=r"unreachable.*in use by another instance"):
            await lives_through_failed_restarts()


@pytest.mark.parametrize("transport", ["tcp", "unix", "http"])
async def test_on_connection_mode_delivers_what_waited(transport: str) -> None:
    async with rig(transport) as r:
        await r.serve(BOB, receive_mode=ReceiveMode.ON_CONNECTION)
        for n in range(3):
            r.network.send_text(CAROL, BOB, f"queued {n}")
        async with Client(r.adapter(BOB)) as bob:
            inbox = EventWaiter(bob, 5)
            got = [(await inbox.next(MessageReceived)).text for _ in range(3)]
            assert got == ["queued 0", "queued 1", "queued 2"]
            r.network.send_text(CAROL, BOB, "live")
            assert (await inbox.next(MessageReceived)).text == "live"
            # The automatic and the explicit subscription must not both deliver.
            await inbox.none(MessageReceived, within=0.5)


@pytest.mark.parametrize("message", [RATE_429, "Failed to send message: [413] Rate limit exceeded"])
async def test_server_rate_limit_mid_send_is_outcome_unknown(message: str) -> None:
    async with rig("tcp") as r:
        await r.serve(BOB)
        async with Client(r.adapter(BOB), rate_limit_budget=60.0) as bob:
            r.network.faults.fail_method("send", -32603, message)
            with pytest.raises(RateLimitedError) as caught:
                await bob.send(C, "maybe twice")
            assert isinstance(caught.value, OutcomeUnknownError)
            assert isinstance(caught.value, RateLimitedOutcomeUnknownError)
            assert "outcome is unknown" in str(caught.value)
            # The outbox does not resend it either (a second try would succeed here).
            r.network.faults.fail_method("send", -32603, message)
            queued = await bob.enqueue(C, "queued once")
            with pytest.raises(OutcomeUnknownError):
                await queued.delivered()
            assert await bob.outbox.status(queued.key) == "unknown"
            assert "queued once" not in texts(r.network, CAROL)


@asynccontextmanager
async def answer_dropping_proxy(port: int) -> AsyncIterator[tuple[int, list[int]]]:
    """A TCP relay that closes the connection right after forwarding a ``send`` request,
    so the request reaches the daemon and its answer never comes back."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    drops: list[int] = []

    async def handle(client: anyio.abc.SocketStream) -> None:
        swallow: list[bool] = []
        upstream = await anyio.connect_tcp("127.0.0.1", port)
        async with client, upstream, anyio.create_task_group() as tg:

            async def down() -> None:
                async for data in upstream:
                    if not swallow:
                        await client.send(data)

            async def up() -> None:
                async for data in client:
                    if b'"method":"send"' in data and not drops:
                        drops.append(1)
                        swallow.append(True)  # this connection's answers are lost now
                        await upstream.send(data)
                        await anyio.sleep(0.2)  # the daemon has it
                        tg.cancel_scope.cancel()
                        return
                    await upstream.send(data)

            tg.start_soon(down)
            tg.start_soon(up)

    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        yield listener.extra(anyio.abc.SocketAttribute.local_port), drops
        tg.cancel_scope.cancel()


@pytest.mark.parametrize("path", ["send", "outbox"])
async def test_lost_answer_is_outcome_unknown_and_never_resent(path: str) -> None:
    async with rig("tcp") as r:
        await r.serve(BOB)
        port = int(r.urls[BOB].rsplit(":", 1)[1])
        async with answer_dropping_proxy(port) as (proxy, drops):
            adapter = SignalAdapter.create(BOB, f"tcp://127.0.0.1:{proxy}", **FAST)
            async with Client(adapter) as bob:
                if path == "send":
                    with pytest.raises(OutcomeUnknownError, match="may have been sent"):
                        await bob.send(C, "once")
                else:
                    queued = await bob.enqueue(C, "once")
                    with pytest.raises(OutcomeUnknownError, match="may have been sent"):
                        await queued.delivered()
                assert drops == [1]
                if path == "outbox":
                    assert await bob.outbox.status(queued.key) == "unknown"
                # It did reach Carol, exactly once; a blind retry would have sent it twice.
                await anyio.sleep(0.3)
                assert texts(r.network, CAROL).count("once") == 1
                # What certainly did not go out is still sent once the line is back.
                sent = await bob.send(C, "after")
                assert not sent.failed


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # the bound is the adapter's, not the loop's
async def test_slow_application_bounds_memory() -> None:
    """10,000 envelopes arrive while the application reads nothing: the adapter stops
    reading (the daemon's connection backs up) instead of holding them all."""
    total, limit = 10_000, 64
    senders = [f"+1555000{n:04d}" for n in range(10, 15)]
    accounts = [f"--account={a}" for a in (ALICE, *senders)]
    command = [sys.executable, "-m", "unimsg_signal.emulator", "--multi-account", *accounts]
    command += ["--tcp", "127.0.0.1:0", "--receive-mode", "manual"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    daemon = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)  # noqa: ASYNC220
    try:
        assert daemon.stderr is not None
        port = int(daemon.stderr.readline().split(":")[-1])
        adapter = SignalAdapter.create(
            ALICE, f"tcp://127.0.0.1:{port}", multi_account=True, event_buffer=limit, **FAST
        )
        async with Client(adapter, event_buffer=limit) as alice:
            tracemalloc.start()
            try:
                flood = [sys.executable, str(HERE / "flood_sender.py"), str(port), ALICE]
                await anyio.run_process([*flood, *senders, "--count", str(total)])
                link = adapter.link
                assert link is not None
                with anyio.fail_after(30):
                    while len(link.inbox) < limit:  # noqa: ASYNC110
                        await anyio.sleep(0.05)
                # A window for unbounded buffering to show: reading everything the daemon
                # has takes about 2-4 s here (without the bound: 19 MiB, 9,935 envelopes
                # held after 4 s; with it: 0.6 MiB, 75 held).
                await anyio.sleep(2)
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            assert peak < 4 * 2**20, f"peak {peak / 2**20:.1f} MiB"
            assert link.inbox.high_water < limit + 400
            seen: dict[str, int] = {}
            received = 0
            with anyio.fail_after(120):
                async for event in alice.events():
                    if not isinstance(event, MessageReceived):
                        continue
                    n = int(event.text[1:])
                    assert n > seen.get(event.sender.id, -1), "order per sender"
                    seen[event.sender.id] = n
                    received += 1
                    if received == total:
                        break
            assert len(seen) == len(senders)
    finally:
        daemon.terminate()
        daemon.wait(10)


@pytest.mark.parametrize("transport", ["tcp", "http", "stdio"])
async def test_slow_application_pauses_reading_on_every_transport(transport: str) -> None:
    total, limit = 2_000, 16
    async with rig(transport) as r:
        await r.serve(BOB)
        adapter = r.adapter(BOB, event_buffer=limit)
        async with Client(adapter, event_buffer=limit) as bob:
            for n in range(total):
                r.network.send_text(CAROL, BOB, f"m{n}")
            link = adapter.link
            assert link is not None
            with anyio.fail_after(30):
                while len(link.inbox) < limit:  # noqa: ASYNC110
                    await anyio.sleep(0.02)
            await anyio.sleep(0.5)
            # One read (64 KiB of envelopes) may overshoot; the other ~1,900 wait upstream.
            assert link.inbox.high_water < limit + 200
            # A call's answer queues behind the envelopes on line transports: it must
            # still come back while the application reads nothing.
            await bob.conversations()
            got = []
            with anyio.fail_after(60):
                async for event in bob.events():
                    if isinstance(event, MessageReceived):
                        got.append(event.text)
                        if len(got) == total:
                            break
            assert got == [f"m{n}" for n in range(total)]
