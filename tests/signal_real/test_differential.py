"""The emulator answers like the real signal-cli daemon, request by request.

Every difference is either fixed in the emulator or listed in ``KNOWN`` with the reason, and
docs/signal.md lists the same ones. A new difference fails; so does a listed one that is gone.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from unimsg_signal.emulator import Daemon, EmulatedNetwork, ReceiveMode, serve_http, serve_tcp

from .accounts import RemoteUser
from .conftest import ALICE, BOB
from .daemon import RealDaemon, rpc
from .differential import CASES, NOBODY, Case, Side, same

pytestmark = pytest.mark.anyio

#: case name -> why the real daemon (0.13.19) and the emulator (0.14.6) differ; docs/signal.md
#: ("Tested versions") lists the same.
KNOWN: dict[str, str] = {
    "account by ACI": "0.14.6 accepts an ACI as account (CHANGELOG 0.14.6)",
    "foreign Host header": "0.14.4/0.14.5 added the Host check (http/HttpServerHandler)",
    "getAttachment: no id": "0.14 added 'Missing attachment id parameter' (GetAttachmentCommand)",
    "invalid JSON": "parse-error text is Jackson's; the emulator gives Python's (same code, id)",
    "invalid JSON line": "parse-error text is Jackson's; the emulator gives Python's",
    "joinGroup: invalid link": "the detail is the Java exception of the link decoder",
    "updateGroup: create, unknown ACI": "the emulator's groups hold registered accounts only",
    "register without account": "0.14 says 'Method requires account parameter' (0.13: 'valid')",
}


@pytest.fixture
async def sides(multi_daemon: RealDaemon, peer: RemoteUser) -> AsyncIterator[tuple[Side, Side]]:
    alice_aci = multi_daemon.accounts[ALICE].aci
    network = EmulatedNetwork()
    network.register(ALICE, aci=alice_aci)
    network.register(BOB, aci=multi_daemon.accounts[BOB].aci)
    network.register("+15550007777", aci=peer.aci)
    values = {"$ALICE_ACI": alice_aci, "$ALICE": ALICE, "$PEER": peer.aci, "$NOBODY": NOBODY}
    real = Side("real", str(multi_daemon.info["http"]), int(multi_daemon.info["tcp_port"]), values)
    async with (
        Daemon(network, [ALICE, BOB], multi_account=True, receive_mode=ReceiveMode.MANUAL) as d,
        serve_http(d) as http,
        serve_tcp(d) as tcp,
    ):
        # ALICE has met the peer on both sides, so both know its identity key.
        network.identity(network.account(ALICE), network.account("+15550007777"))
        meet = {"account": ALICE, "recipient": peer.aci, "expiration": 0}
        assert "result" in await anyio.to_thread.run_sync(rpc, multi_daemon, "updateContact", meet)
        yield real, Side("emulator", http.url, tcp.port, values)


async def test_emulator_answers_like_the_real_daemon(sides: tuple[Side, Side]) -> None:
    real, emulated = sides
    differences: dict[str, dict[str, Any]] = {}
    for case in CASES:
        got_real, got_emulated = await real.run(case), await emulated.run(case)
        if not same(got_real, got_emulated):
            differences[case.name] = {"real": got_real, "emulator": got_emulated}
    report = json.dumps(differences, indent=1, sort_keys=True)
    print(report)
    unexpected = sorted(set(differences) - set(KNOWN))
    gone = sorted(set(KNOWN) - set(differences))
    assert not unexpected, f"new differences: {unexpected}\n{report}"
    assert not gone, f"listed differences no longer seen (drop them from KNOWN and docs): {gone}"


def test_cases_are_named_uniquely() -> None:
    names = [c.name for c in CASES]
    assert len(names) == len(set(names))
    assert all(isinstance(c, Case) for c in CASES)
