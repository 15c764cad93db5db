"""Fail-over of an encrypted Matrix room between two hosts sharing one PostgreSQL store.

One bot account, two worker processes ("hosts"), each with its own device and
its own ``store_path`` (crypto store), one `PostgresStore` with a reader lease
and the same recovery key in the environment of both. The standby has started
once before, so the sender encrypts for its device too; but it reads with the
shared sync position, which skips the to-device messages (the room keys) sent
to its device while it stood by. The sender posts encrypted messages while
the active reader handles them; the active one is SIGKILLed part-way and the
standby takes over. Every message must reach the application decrypted, once
across both processes (an `UndecryptableMessage` later decrypted under the
same id counts as one), the keys the standby lacks coming from the key backup
the active reader filled. Neither device's keys change, and no secret shows
in the workers' DEBUG logs. ``ENCRYPTED_FAILOVER_SENDS`` sets the size.
"""

from __future__ import annotations

import collections
import json
import os
import re
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from unimsg_matrix import MatrixAdapter

from tests.matrix.fixtures_adapter import adapter_for
from tests.matrix.synapse import MakeUser, RegisteredUser, SynapseInstance
from unimsg import Client

from ._process import AppProcess, Line, runs
from .conftest import Figures
from .test_shared_store import LEASE, worker

pytestmark = [pytest.mark.postgres]
SENDS = int(os.environ.get("ENCRYPTED_FAILOVER_SENDS", "60"))
#: How long keys may take to come after the last message was sent (seconds).
LATE_KEYS = 60
PASSWORD_ENV = "FAILOVER_BOT_PASSWORD"
RECOVERY_KEY_ENV = "FAILOVER_RECOVERY_KEY"


async def device_keys(user: RegisteredUser) -> dict[str, dict[str, str]]:
    """The homeserver's published identity keys of each of ``user``'s devices."""
    async with httpx.AsyncClient(base_url=user.homeserver, timeout=30) as http:
        resp = await http.post(
            "/_matrix/client/v3/keys/query",
            headers={"Authorization": f"Bearer {user.access_token}"},
            json={"device_keys": {user.user_id: []}},
        )
    resp.raise_for_status()
    devices = resp.json()["device_keys"].get(user.user_id, {})
    return {device: dict(info["keys"]) for device, info in devices.items()}


def decrypted(lines: list[Line]) -> list[tuple[str, str]]:
    """(event id, text) of each decrypted message the application handled, in order."""
    found = []
    for line in lines:
        if line[0] == "handled":
            assert line[3] == "1", f"{line[1]} arrived unencrypted"
            found.append((line[2], line[1]))
    return found


def devices_of(process: AppProcess) -> set[str]:
    return {line[1] for line in process.lines() if line[0] == "device"}


def secrets_of(user: RegisteredUser, recovery_key: str, stores: list[Path]) -> dict[str, str]:
    secrets = {
        "bot password": user.password,
        "bot registration token": user.access_token,
        "recovery key": recovery_key,
        "recovery key without spaces": recovery_key.replace(" ", ""),
        "database password": os.environ["PGPASSWORD"],
    }
    for store in stores:
        state = json.loads((store / "state.json").read_text())
        secrets[f"access token ({store.name})"] = state["access_token"]
        private = json.loads((store / "cross_signing.json").read_text())
        for name, value in private.items():
            secrets[f"{name} private key ({store.name})"] = value
    return secrets


@pytest.mark.asyncio
async def test_a_standby_takes_over_an_encrypted_room_with_keys_from_the_backup(
    synapse: SynapseInstance,
    make_matrix_user: MakeUser,
    postgres_url: str,
    tmp_path: Path,
    figures: Figures,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bot, sender_user = await make_matrix_user(synapse), await make_matrix_user(synapse)
    sender = adapter_for(sender_user, tmp_path / "sender", trust_policy="always")
    host = {name: tmp_path / f"host-{name}" for name in ("a", "b")}
    async with Client(sender) as s:
        # Host A's first start makes the account's cross-signing keys, key backup and
        # recovery key; the operator puts the key into every host's environment.
        first = MatrixAdapter(
            homeserver=bot.homeserver,
            user_id=bot.user_id,
            password=bot.password,
            store_path=host["a"],
            sync_timeout_ms=1000,
        )
        async with Client(first) as a:
            room = await s.create_conversation(
                "matrix", name="encrypted fail-over", members=[first.account], encrypted=True
            )
            await a.join(room.address)
            recovery_key = first.take_recovery_key()
            assert recovery_key is not None
        monkeypatch.setenv(PASSWORD_ENV, bot.password)
        monkeypatch.setenv(RECOVERY_KEY_ENV, recovery_key)
        settings: dict[str, Any] = {
            "network": "matrix",
            "homeserver": bot.homeserver,
            "user_id": bot.user_id,
            "password_env": PASSWORD_ENV,
            "recovery_key_env": RECOVERY_KEY_ENV,
            "sync_timeout_ms": 1000,
        }
        readers = [
            worker(tmp_path, i, postgres_url, {**settings, "store_path": str(host[name])},
                   "read", "--lease", str(LEASE), "--debug")
            for i, name in enumerate(("a", "b"))
        ]  # fmt: skip
        active, standby = readers
        try:
            # The standby's host started once before (its own device, cross-signed with
            # the recovery key): senders know its device from then on.
            await standby.start()
            await standby.wait(lambda lines: any(line[0] == "device" for line in lines), 60)
            await standby.stop()
            (standby_device,) = devices_of(standby)
            with anyio.fail_after(30):
                while standby_device not in await sender.devices(bot.user_id):  # noqa: ASYNC110
                    await anyio.sleep(0.2)
            keys_before = await device_keys(bot)

            await active.start()
            await active.wait(lambda lines: any(line[0] == "device" for line in lines), 30)
            await standby.start()
            await anyio.sleep(LEASE)
            assert ("active",) not in runs(standby.lines())[-1]

            sent: dict[str, str] = {}
            all_sent = anyio.Event()
            sent_at: list[float] = []

            async def send_all() -> None:
                for i in range(SENDS):
                    receipt = await s.send(room.address, f"m{i}", require_encryption=True)
                    sent[receipt.id] = f"m{i}"
                    await anyio.sleep(0.05)
                sent_at.append(time.monotonic())
                all_sent.set()

            async with anyio.create_task_group() as tg:
                tg.start_soon(send_all)
                # Killed part-way: a third acknowledged, the sender still sending.
                await active.wait(lambda lines: ("acked", f"m{SENDS // 3}") in lines, 60)
                await active.kill()
                killed = time.monotonic()
                await standby.wait(lambda lines: ("active",) in runs(lines)[-1], 30)
                takeover = time.monotonic() - killed
                # The first message it hands over needs the key it skipped: from the backup.
                await standby.wait(
                    lambda lines: any(line[0] == "handled" for line in runs(lines)[-1]), 30
                )
                first_message = time.monotonic() - killed
                await all_sent.wait()
            everything = set(sent)

            def resolved(_: object) -> bool:
                return everything <= {i for r in readers for i, _ in decrypted(r.lines())}

            # Keys the standby lacks come from the backup (or a key request): bounded.
            await standby.wait(resolved, LATE_KEYS)
            resolved_after = time.monotonic() - sent_at[0]
            # Anything late would show up now: a duplicate, or an id nobody sent.
            await anyio.sleep(1.5)
        finally:
            for r in readers:
                await r.stop()
        keys_after = await device_keys(bot)
    by_active = decrypted(active.lines())
    by_standby = decrypted(standby.lines())
    handled = collections.Counter(i for i, _ in by_active + by_standby)
    acked_first = {line[1] for line in active.lines() if line[0] == "acked"}
    in_hand = {t for i, t in by_active} - acked_first
    undecryptable = {line[1] for line in standby.lines() if line[0] == "undecryptable"}
    standby_log = standby.log.read_text()
    from_backup = re.findall(
        r"decrypted (\d+) events of (\d+) sessions in \S+ with keys from", standby_log
    )
    secrets = secrets_of(bot, recovery_key, [host["a"], host["b"]])
    logs = active.log.read_text() + standby_log
    leaks = sorted(name for name, value in secrets.items() if value and value in logs)
    figures(
        "encrypted room: active reader SIGKILLed, standby takes over with keys from the backup "
        "(Matrix, PostgreSQL lease)",
        sent=len(sent),
        delivered=len(handled),
        duplicated=sum(handled.values()) - len(handled),
        lost=len(everything - set(handled)),
        lease_seconds=LEASE,
        takeover_seconds=round(takeover, 2),
        first_decrypted_seconds_after_kill=round(first_message, 2),
        sending_seconds_after_kill=round(sent_at[0] - killed, 2),
        all_decrypted_seconds_after_last_send=round(resolved_after, 2),
        by_active=len(by_active),
        by_standby=len(by_standby),
        standby_undecryptable=len(undecryptable),
        undecryptable_handled_by_active=len(undecryptable & {i for i, _ in by_active}),
        decrypted_with_backup_keys=sum(int(events) for events, _ in from_backup),
        backup_sessions=sum(int(sessions) for _, sessions in from_backup),
        # Messages the old reader had handled past the written position, dropped as such.
        redelivered_dropped=standby_log.count("dropped a handled MessageReceived"),
        key_requests=standby_log.count("requested the key of session"),
        secrets_checked=len(secrets),
        leaks=len(leaks),
    )
    assert len(sent) == SENDS
    # Each message decrypted, with its own text, by one process or (the one in hand) both.
    assert {i: sent.get(i) for i, _ in by_active + by_standby} == dict(by_active + by_standby)
    assert set(handled) == everything
    twice = {sent[i] for i, n in handled.items() if n > 1}
    assert twice <= in_hand and len(twice) <= 1, twice
    assert acked_first.isdisjoint(t for _, t in by_standby), "an acknowledged message came again"
    # Each message the standby could not decrypt at first was decrypted later.
    assert undecryptable <= everything
    assert undecryptable <= {i for i, _ in by_standby}, undecryptable - {i for i, _ in by_standby}
    # The standby took the key it had missed from the backup, not from its own inbox.
    assert from_backup, "the standby did not need the key backup"
    # Both hosts kept their devices and keys: nothing was overwritten, nothing new made.
    assert devices_of(standby) == {standby_device}
    assert keys_after == keys_before
    assert {standby_device, *devices_of(active)} <= set(keys_after)
    assert logs.count(" DEBUG ") > 100, "the workers did not log at DEBUG"
    assert leaks == []
