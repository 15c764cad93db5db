"""Connection faults: drops, stalled event streams, garbage, load, dead daemons, secrets."""

from __future__ import annotations

import logging
import sys

import anyio
import anyio.abc
import pytest
from adapter_fixtures import ALICE, BOB, CAROL, FAST, make_network, rig
from unimsg_signal import SignalAdapter
from unimsg_signal.emulator import Daemon, EmulatedNetwork, ReceiveMode, serve_http, serve_tcp

from unimsg import (
    Address,
    Client,
    ConnectError,
    ConnectionState,
    ConnectionStateChanged,
    MessageReceived,
    RemoteProtocolError,
)
from unimsg.testing import EventWaiter

pytestmark = pytest.mark.anyio

A, B = Address.signal(ALICE), Address.signal(BOB)


@pytest.mark.parametrize("transport", ["tcp", "unix", "http"])
async def test_reconnect_loses_nothing_the_daemon_kept(transport: str) -> None:
    async with rig(transport) as r:
        await r.serve(BOB)
        async with Client(r.adapter(BOB, min_backoff=0.5, max_backoff=1.0)) as bob:
            inbox = EventWaiter(bob, 5)
            r.network.send_text(CAROL, BOB, "before")
            await inbox.next(MessageReceived, lambda e: e.text == "before")
            r.network.faults.drop_connections()
            down = await inbox.next(ConnectionStateChanged)
            assert down.state is ConnectionState.RECONNECTING
            # An envelope written into the dying connection is lost (signal-cli delivers at
            # most once); once the daemon has dropped the subscription, with manual receive
            # mode the message waits on the server for the next one.
            await detached(r.network, BOB)
            r.network.send_text(CAROL, BOB, "while away")
            up = await inbox.next(ConnectionStateChanged)
            assert up.state is ConnectionState.CONNECTED
            got = await inbox.next(MessageReceived)
            assert got.text == "while away"
            r.network.send_text(CAROL, BOB, "after")
            await inbox.next(MessageReceived, lambda e: e.text == "after")
            sent = await bob.send(Address.signal(CAROL), "still sending")
            assert not sent.failed


async def test_silent_event_stream_is_detected_by_the_watchdog() -> None:
    async with rig("http") as r:
        # No keep-alives at all: a hung stream looks exactly like this.
        await r.serve(BOB, keepalive_interval=3600)
        async with Client(r.adapter(BOB, keepalive_timeout=0.3)) as bob:
            inbox = EventWaiter(bob, 5)
            down = await inbox.next(ConnectionStateChanged)
            assert down.state is ConnectionState.RECONNECTING
            assert down.reason is not None and "keep-alive" in down.reason
            await inbox.next(ConnectionStateChanged, lambda e: e.state is ConnectionState.CONNECTED)
            r.network.send_text(CAROL, BOB, "still here")
            await inbox.next(MessageReceived, lambda e: e.text == "still here")


@pytest.mark.parametrize("transport", ["tcp", "http"])
async def test_garbage_answer_is_a_protocol_error_and_the_loop_lives(transport: str) -> None:
    async with rig(transport) as r:
        await r.serve(BOB)
        async with Client(r.adapter(BOB, request_timeout=0.5)) as bob:
            inbox = EventWaiter(bob, 5)
            r.network.faults.garbage_next_response(b"\x00\xffgarbage{\n")
            with pytest.raises(RemoteProtocolError):
                await bob.conversations()
            r.network.send_text(CAROL, BOB, "still receiving")
            await inbox.next(MessageReceived, lambda e: e.text == "still receiving")
            assert not (await bob.send(Address.signal(CAROL), "and sending")).failed


async def test_many_concurrent_requests_are_matched_by_id() -> None:
    async with rig() as r:
        await r.serve(ALICE)
        await r.serve(BOB)
        async with Client(r.adapter(ALICE)) as alice, Client(r.adapter(BOB)) as bob:
            inbox = EventWaiter(bob, 5)
            results: dict[int, str] = {}

            async def send(i: int) -> None:
                results[i] = (await alice.send(B, f"n{i}")).id

            async def status(i: int) -> None:
                state = await alice.encryption_state(B)
                assert state.encrypted

            async with anyio.create_task_group() as tg:
                for i in range(40):
                    tg.start_soon(send, i)
                    tg.start_soon(status, i)
            assert len(set(results.values())) == 40
            texts = {(await inbox.next(MessageReceived)).text for _ in range(40)}
            assert texts == {f"n{i}" for i in range(40)}


async def detached(network: EmulatedNetwork, number: str) -> None:
    """Poll until the daemon has let go of the account (it has no event to wait on)."""
    with anyio.fail_after(2):
        while network.is_attached(number):  # noqa: ASYNC110
            await anyio.sleep(0.005)


def _only(error: BaseException) -> BaseException:
    """The error itself, also when the client's start-up wraps it in a group."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


async def test_first_connection_failure_and_giving_up_end_run() -> None:
    with pytest.raises((ConnectError, BaseExceptionGroup)) as failed:
        async with Client(SignalAdapter.create(ALICE, "tcp://127.0.0.1:9", **FAST)):
            pass
    error = _only(failed.value)
    assert isinstance(error, ConnectError) and "cannot connect" in str(error)
    network = make_network()
    stop = anyio.Event()
    async with (
        Daemon(network, [BOB], receive_mode=ReceiveMode.MANUAL) as daemon,
        anyio.create_task_group() as tg,
    ):

        async def serve(*, task_status: anyio.abc.TaskStatus[int]) -> None:
            async with serve_tcp(daemon) as server:
                task_status.started(server.port)
                await stop.wait()

        port = await tg.start(serve)
        adapter = SignalAdapter.create(BOB, f"tcp://127.0.0.1:{port}", **FAST, give_up_after=0.3)

        async def until_failure() -> None:
            async with Client(adapter):
                stop.set()
                await anyio.sleep(10)

        with pytest.raises((ConnectError, BaseExceptionGroup)) as gave_up:
            await until_failure()
        error = _only(gave_up.value)
        assert isinstance(error, ConnectError) and "unreachable" in str(error)


async def test_multi_account_daemon() -> None:
    network = make_network()
    options = {**FAST, "multi_account": True}
    async with (
        Daemon(network, [ALICE, BOB], multi_account=True, receive_mode="manual") as daemon,
        serve_tcp(daemon) as server,
    ):
        url = f"tcp://127.0.0.1:{server.port}"
        alice_adapter = SignalAdapter.create(ALICE, url, **options)
        bob_adapter = SignalAdapter.create(BOB, url, **options)
        async with Client(alice_adapter) as alice, Client(bob_adapter) as bob:
            inbox = EventWaiter(bob, 5)
            await alice.send(B, "same daemon")
            got = await inbox.next(MessageReceived)
            assert got.text == "same daemon" and got.account == B
            await EventWaiter(alice, 5).none(MessageReceived, within=0.2)


async def test_no_secret_in_logs_or_reprs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    network = make_network()
    async with (
        Daemon(network, [ALICE], receive_mode="manual") as daemon,
        serve_http(daemon) as server,
    ):
        url = server.url.replace("http://", "http://bot:hunter2-pass@")
        adapter = SignalAdapter.create(ALICE, url, http_token=None, **FAST)
        token_adapter = SignalAdapter.create(ALICE, server.url, http_token="tok-s3cret", **FAST)
        for each in (adapter, token_adapter):
            async with Client(each) as client:
                await client.send(B, "hi")
            text = " ".join([caplog.text, repr(each), repr(each.config), str(each.config.url)])
            assert "hunter2" not in text and "s3cret" not in text
        assert adapter.config.http_password == "hunter2-pass"


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_stdio_child_process() -> None:
    command = (
        f"stdio:{sys.executable} -m unimsg_signal.emulator --account {ALICE} --echo {BOB} "
        f"jsonrpc -a {ALICE} --receive-mode manual"
    )
    async with Client(SignalAdapter.create(ALICE, command, **FAST)) as alice:
        inbox = EventWaiter(alice, 10)
        await alice.send(B, "ping")
        reply = await inbox.next(MessageReceived)
        assert reply.text == "echo: ping" and reply.sender == B
