"""Scenario 5: the Signal daemon drops connections, stalls its event stream, sends garbage.

tests/signal/test_adapter_faults.py covers one drop, the HTTP watchdog on a
silent stream and a garbage answer. Added here: repeated drops under a steady
stream of messages (with `client.health()` following the state), a stall on a
line transport (no watchdog: events are late, not lost) and a stall on HTTP
long enough to trip the watchdog while messages are held. Loss is measured
against what the daemon kept: a message sent while nothing was subscribed
waits on the server and must arrive; one the daemon handed to a connection
that was dying is gone, as with signal-cli (at most once per delivery).
Which connection the daemon handed each envelope to is observed with a weak
receive handler (it sees every dispatch without keeping the account attached).
"""

from __future__ import annotations

import collections
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest
from unimsg_signal import SignalAdapter
from unimsg_signal.emulator import (
    Daemon,
    EmulatedNetwork,
    ReceiveMode,
    Subscriber,
    serve_http,
    serve_tcp,
)

from unimsg import Client, ConnectionState, ConnectionStateChanged, MessageReceived

from .conftest import Figures

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])]

BOB, CAROL = "+15550000002", "+15550000003"
FAST = {"min_backoff": 0.05, "max_backoff": 0.2, "request_timeout": 5.0}


@asynccontextmanager
async def bob_daemon(
    transport: str, **options: object
) -> AsyncIterator[tuple[EmulatedNetwork, Daemon, str]]:
    network = EmulatedNetwork()
    network.register(BOB)
    network.register(CAROL)
    async with Daemon(network, [BOB], receive_mode=ReceiveMode.MANUAL, **options) as daemon:  # type: ignore[arg-type]
        if transport == "tcp":
            async with serve_tcp(daemon) as server:
                yield network, daemon, f"tcp://127.0.0.1:{server.port}"
        else:
            async with serve_http(daemon) as http:
                yield network, daemon, http.url


class Inbox:
    """Counts what the application reads, and the connection states it is told about."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.texts: collections.Counter[str] = collections.Counter()
        self.order: list[str] = []
        self.states: list[ConnectionState] = []
        self.changed = anyio.Event()

    async def run(self) -> None:
        async for event in self.client.events():
            if isinstance(event, MessageReceived):
                self.texts[event.text] += 1
                self.order.append(event.text)
            elif isinstance(event, ConnectionStateChanged):
                self.states.append(event.state)
            self.changed.set()
            self.changed = anyio.Event()

    async def wait(self, done: object, within: float = 10.0) -> None:
        with anyio.fail_after(within):
            while not done():  # type: ignore[operator]
                await self.changed.wait()


@pytest.mark.parametrize("transport", ["tcp", "http"])
async def test_repeated_drops_under_a_stream(transport: str, figures: Figures) -> None:
    async with bob_daemon(transport) as (network, daemon, url):
        adapter = SignalAdapter.create(BOB, url, **FAST)
        async with Client(adapter) as bob, anyio.create_task_group() as tg:
            inbox = Inbox(bob)
            tg.start_soon(inbox.run)
            sent: list[str] = []
            # Text -> the connections (strong receive handlers) the daemon handed it to.
            handed_to: dict[str, frozenset[Subscriber]] = {}
            account = network.account(BOB)

            def observe(payload: dict[str, object]) -> None:
                message = payload["envelope"]["dataMessage"]["message"]  # type: ignore[index]
                # The emulator's handler list, read from a test: who got this envelope.
                live = daemon._handlers[account.aci]
                handed_to[str(message)] = frozenset(h for h in live if h.strong)

            daemon.add_handler(account, Subscriber(observe, strong=False))
            health_seen: set[ConnectionState] = set()
            stop = anyio.Event()

            async def stream() -> None:
                i = 0
                while not stop.is_set():
                    text = f"t{i}"
                    sent.append(text)
                    network.send_text(CAROL, BOB, text)
                    health_seen.add(bob.health()[f"signal:{BOB}"].state)
                    i += 1
                    await anyio.sleep(0.004)

            tg.start_soon(stream)
            drops = 6
            for _ in range(drops):
                await anyio.sleep(0.15)
                network.faults.drop_connections()
            await anyio.sleep(0.3)
            stop.set()

            def final() -> frozenset[Subscriber]:
                return frozenset(h for h in daemon._handlers[account.aci] if h.strong)

            def healthy() -> set[str]:
                # Handed to a connection that is still up: these must arrive.
                return {t for t in sent if handed_to.get(t, frozenset()) & final()}

            await inbox.wait(lambda: len(handed_to) == len(sent) and healthy() <= set(inbox.texts))
            await anyio.sleep(0.3)
            to_dropped = {t for t in sent if not handed_to[t] & final()}
            health = bob.health()[f"signal:{BOB}"]
            tg.cancel_scope.cancel()
    lost = set(sent) - set(inbox.texts)
    figures(
        f"5 repeated daemon drops under a stream (Signal emulator, {transport})",
        sent=len(sent),
        delivered=len(inbox.texts),
        duplicated=sum(inbox.texts.values()) - len(inbox.texts),
        lost=len(lost),
        drops=drops,
        handed_to_dropped_connections=len(to_dropped),
        reconnects_reported=inbox.states.count(ConnectionState.CONNECTED),
    )
    assert set(inbox.texts.values()) == {1}
    # What the daemon kept (manual mode) or handed to the live connection arrived; only
    # envelopes it handed to a connection that was then dropped can be gone.
    assert lost <= to_dropped
    # Arrival order is the order the daemon emitted them.
    assert inbox.order == sorted(inbox.order, key=lambda t: int(t[1:]))
    assert inbox.states.count(ConnectionState.RECONNECTING) >= 1
    assert inbox.states[-1] is ConnectionState.CONNECTED
    assert ConnectionState.RECONNECTING in health_seen
    assert health.state is ConnectionState.CONNECTED and health.events >= len(inbox.texts)


async def test_stalled_line_transport_delays_but_loses_nothing(figures: Figures) -> None:
    async with (
        bob_daemon("tcp") as (network, _, url),
        Client(SignalAdapter.create(BOB, url, **FAST)) as bob,
        anyio.create_task_group() as tg,
    ):
        inbox = Inbox(bob)
        tg.start_soon(inbox.run)
        network.faults.stall_notifications(1.0)
        texts = [f"s{i}" for i in range(20)]
        started = anyio.current_time()
        for text in texts:
            network.send_text(CAROL, BOB, text)
        await inbox.wait(lambda: len(inbox.texts) == len(texts))
        late = anyio.current_time() - started
        await anyio.sleep(0.2)
        tg.cancel_scope.cancel()
    figures(
        "5 stalled event stream, TCP (Signal emulator)",
        sent=len(texts),
        delivered=len(inbox.texts),
        duplicated=sum(inbox.texts.values()) - len(inbox.texts),
        lost=len(texts) - len(inbox.texts),
        stall_seconds=1.0,
        first_arrival_after=round(late, 2),
    )
    assert inbox.order == texts
    assert late >= 0.9
    # Line transports have no keep-alive to watch: a stall is only a delay.
    assert inbox.states == []


async def test_stall_past_the_http_watchdog(figures: Figures) -> None:
    async with bob_daemon("http", keepalive_interval=0.1) as (network, _, url):
        adapter = SignalAdapter.create(BOB, url, keepalive_timeout=0.5, **FAST)
        async with Client(adapter) as bob, anyio.create_task_group() as tg:
            inbox = Inbox(bob)
            tg.start_soon(inbox.run)
            network.faults.stall_notifications(1.5)
            held = [f"h{i}" for i in range(5)]
            for text in held:
                network.send_text(CAROL, BOB, text)
            await inbox.wait(lambda: ConnectionState.CONNECTED in inbox.states)
            after = [f"a{i}" for i in range(5)]
            await anyio.sleep(1.2)  # the stall ends
            for text in after:
                network.send_text(CAROL, BOB, text)
            await inbox.wait(lambda: set(after) <= set(inbox.texts))
            await anyio.sleep(0.2)
            tg.cancel_scope.cancel()
    sent = held + after
    lost = set(sent) - set(inbox.texts)
    figures(
        "5 stalled event stream past the watchdog, HTTP (Signal emulator)",
        sent=len(sent),
        delivered=len(inbox.texts),
        duplicated=sum(inbox.texts.values()) - len(inbox.texts),
        lost=len(lost),
        held_by_the_hung_stream=len(held),
    )
    assert inbox.states[:2] == [ConnectionState.RECONNECTING, ConnectionState.CONNECTED]
    assert set(inbox.texts.values()) == {1}
    # The daemon had handed the held envelopes to the hung stream: at most once, so gone.
    assert lost <= set(held)
