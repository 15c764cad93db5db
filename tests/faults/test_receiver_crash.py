"""Scenario 2: the receiving application's process is SIGKILLed in the middle of a handler.

Matrix: the sync position is committed only past acknowledged events and the
client's store remembers acknowledged ones, so the interrupted event comes
again after the restart, nothing is lost, and nothing acknowledged is handled
again. Signal: signal-cli acknowledges to the server before it hands an
envelope out, so whatever the killed process had received but not handled is
gone; what arrives while it is down waits (manual receive mode) and comes once.
"""

from __future__ import annotations

import collections
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
from unimsg_signal import SignalAdapter

from tests.matrix.fixtures_adapter import adapter_for
from tests.matrix.synapse import MakeUser, SynapseInstance
from unimsg import Address, Client

from ._matrix import join
from ._process import AppProcess, began, handled_after_ack, handled_all, interrupted, runs
from .conftest import Figures

N = 120
KILL_AT = ("m30", "m60", "m90")


@pytest.mark.asyncio
async def test_matrix_receiver_killed_mid_handler(
    synapse: SynapseInstance, make_matrix_user: MakeUser, tmp_path: Path, figures: Figures
) -> None:
    sender_user, receiver_user = await make_matrix_user(synapse), await make_matrix_user(synapse)
    receiver = AppProcess(
        tmp_path,
        {
            "network": "matrix",
            "homeserver": receiver_user.homeserver,
            "user_id": receiver_user.user_id,
            "access_token": receiver_user.access_token,
            "device_id": receiver_user.device_id,
            "store_path": str(tmp_path / "matrix"),
            "sync_timeout_ms": 5000,
        },
    )
    texts = [f"m{i}" for i in range(N)]
    async with Client(adapter_for(sender_user, tmp_path / "sender")) as s:
        room = await s.create_conversation(
            "matrix", name="crashy", members=[Address.matrix(receiver_user.user_id)]
        )
        await join(receiver_user, room.address.id)
        await receiver.start()
        try:
            async with anyio.create_task_group() as tg:

                async def send_all() -> None:
                    for text in texts:
                        await s.send(room.address, text)

                tg.start_soon(send_all)
                for text in KILL_AT:
                    await receiver.wait(began(text), 60)
                    await receiver.kill()
                    await receiver.start()
            await receiver.wait(handled_all(texts), 60)
            # Room for a late redelivery to show.
            await anyio.sleep(1.0)
        finally:
            await receiver.stop()

    lines = receiver.lines()
    handled = receiver.handled()
    per_run = runs(lines)
    cut = [interrupted(run) for run in per_run[:-1]]
    arrivals = collections.Counter(line[1] for line in lines if line[0] == "arrived")
    figures(
        "2 receiver process SIGKILL mid-handler (Matrix)",
        sent=N,
        delivered=len(handled),
        duplicated=sum(handled.values()) - len(handled),
        lost=N - len(handled),
        kills=receiver.kills,
        interrupted_redelivered=sum(
            1
            for i, text in enumerate(cut)
            if text and any(line[:2] == ("handled", text) for line in per_run[i + 1])
        ),
        redelivered_events=sum(c - 1 for c in arrivals.values()),
        handled_after_ack=len(handled_after_ack(lines)),
    )
    assert set(handled) == set(texts)
    assert handled_after_ack(lines) == []
    assert all(text is not None for text in cut), "a kill did not land inside a handler"
    for i, cut_short in enumerate(cut):
        assert any(line[:2] == ("handled", cut_short) for line in per_run[i + 1]), cut_short
    # The kill lands between "begin" and "handled", never between "handled" and "acked":
    # no message is handled twice.
    assert set(handled.values()) == {1}


BOB, CAROL = "+15550000002", "+15550000003"
FAST = {"min_backoff": 0.05, "max_backoff": 0.5, "request_timeout": 5.0, "multi_account": True}


@asynccontextmanager
async def emulator_process() -> AsyncIterator[str]:
    """signal-cli's stand-in in a process of its own (it outlives the receiver); yields its URL."""
    command = [sys.executable, "-m", "unimsg_signal.emulator", "--account", BOB]
    command += ["--account", CAROL, "--multi-account", "--receive-mode", "manual"]
    command += ["--tcp", "127.0.0.1:0"]
    process = await anyio.open_process(command, stdout=subprocess.DEVNULL)
    try:
        assert process.stderr is not None
        with anyio.fail_after(20):
            first = (await process.stderr.receive()).decode()
        kind, address = first.split()[:2]
        assert kind == "tcp", first
        yield f"tcp://{address}"
    finally:
        process.kill()
        await process.wait()


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_signal_receiver_killed_mid_handler(tmp_path: Path, figures: Figures) -> None:
    before = [f"m{i}" for i in range(40)]
    while_down = [f"m{i}" for i in range(40, 60)]
    after = [f"m{i}" for i in range(60, 70)]
    async with emulator_process() as url:
        receiver = AppProcess(tmp_path, {"network": "signal", "account": BOB, "url": url, **FAST})
        async with Client(SignalAdapter.create(CAROL, url, **FAST)) as carol:
            bob = Address.signal(BOB)
            await receiver.start()
            try:
                for text in before:
                    await carol.send(bob, text)
                await receiver.wait(began("m10"), 30)
                await receiver.kill()
                # Let the daemon notice the closed socket; until then it would still
                # write envelopes into it (and they would be lost, as with signal-cli).
                await anyio.sleep(0.5)
                for text in while_down:
                    await carol.send(bob, text)
                await receiver.start()
                for text in after:
                    await carol.send(bob, text)
                await receiver.wait(handled_all(while_down + after), 30)
                await anyio.sleep(1.0)
            finally:
                await receiver.stop()

    lines = receiver.lines()
    handled = receiver.handled()
    first, _second = runs(lines)
    arrived_first = {line[1] for line in first if line[0] == "arrived"}
    lost = set(before + while_down + after) - set(handled)
    sent = len(before) + len(while_down) + len(after)
    figures(
        "2 receiver process SIGKILL mid-handler (Signal emulator)",
        sent=sent,
        delivered=len(handled),
        duplicated=sum(handled.values()) - len(handled),
        lost=len(lost),
        kills=receiver.kills,
        lost_were_delivered_to_the_killed_process=lost <= arrived_first,
        interrupted=interrupted(first),
    )
    # At most once per daemon delivery: nothing is handled twice ...
    assert set(handled.values()) == {1}
    # ... what the killed process had received but not handled is gone, the interrupted
    # message included (signal-cli had acknowledged it to the server) ...
    assert interrupted(first) == "m10" and "m10" in lost
    assert lost == arrived_first - set(handled)
    # ... and what arrived while it was down waited and came once.
    assert set(while_down + after) <= set(handled)
