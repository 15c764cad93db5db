"""Scenario 6: bad input never crashes the decoding, nor a running adapter's receive loop.

Fuzzing (hypothesis) of the Matrix event conversion with random, wrongly
typed and truncated JSON; signal-cli envelopes are fuzzed the same way in
tests/signal/test_adapter_convert.py and tests/signal/test_jsonrpc.py. Then
garbage fed into running adapters: a proxy answers a Matrix /sync with
garbage, and garbage lines are pushed into a Signal notification stream.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from unimsg_matrix._convert import Converter
from unimsg_signal import SignalAdapter
from unimsg_signal.emulator import Daemon, EmulatedNetwork, ReceiveMode, serve_tcp

from tests.matrix.fixtures_adapter import adapter_for
from tests.matrix.synapse import MakeUser, SynapseInstance
from unimsg import (
    Address,
    Client,
    ConnectionState,
    ConnectionStateChanged,
    Event,
    MessageReceived,
    UnknownEvent,
)
from unimsg.testing import EventWaiter

from ._matrix import join
from ._proxy import MeddlingProxy
from .conftest import Figures

ME = Address.matrix("@me:example.org")
ROOM = "!room:example.org"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)

SAMPLES: list[dict[str, Any]] = [
    {
        "type": "m.room.message",
        "content": {
            "msgtype": "m.text",
            "body": "hi",
            "format": "org.matrix.custom.html",
            "formatted_body": "<b>hi</b>",
            "m.relates_to": {"m.in_reply_to": {"event_id": "$0"}},
            "m.mentions": {"user_ids": ["@a:b"]},
        },
    },
    {
        "type": "m.room.message",
        "content": {
            "msgtype": "m.image",
            "body": "p.png",
            "url": "mxc://a/b",
            "info": {"mimetype": "image/png", "size": 3},
        },
    },
    {
        "type": "m.room.message",
        "content": {
            "msgtype": "m.file",
            "body": "f",
            "file": {"url": "mxc://a/b", "key": {"k": "x"}, "iv": "y", "hashes": {"sha256": "z"}},
        },
    },
    {
        "type": "m.room.message",
        "content": {
            "msgtype": "m.text",
            "body": "* new",
            "m.new_content": {"msgtype": "m.text", "body": "new"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": "$0"},
        },
    },
    {
        "type": "m.reaction",
        "content": {"m.relates_to": {"rel_type": "m.annotation", "event_id": "$0", "key": "👍"}},
    },
    {"type": "m.room.redaction", "redacts": "$0", "content": {"redacts": "$0"}},
    {"type": "m.room.member", "state_key": "@b:c", "content": {"membership": "leave"}},
    {"type": "m.room.name", "state_key": "", "content": {"name": "n"}},
    {"type": "m.room.topic", "state_key": "", "content": {"topic": "t"}},
    {
        "type": "m.room.encryption",
        "state_key": "",
        "content": {"algorithm": "m.megolm.v1.aes-sha2"},
    },
]
for sample in SAMPLES:
    sample.update(sender="@alice:example.org", event_id="$e1", origin_server_ts=1_700_000_000_000)


def _convert(source: Any, **flags: Any) -> Event:
    converter = Converter(ME)
    result = converter.timeline(ROOM, source, encrypted=False, from_self=False, **flags)
    assert isinstance(result, Event), result
    repr(result)  # a converted event is printable, whatever went in
    return result


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    return found


def _with(sample: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(sample)
    target = changed
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return changed


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_matrix_random_json_never_raises(value: Any) -> None:
    if isinstance(value, dict):
        _convert(value)
        _convert({**SAMPLES[0], "content": value})
        _convert({**SAMPLES[0], "type": "m.room.encrypted"}, undecryptable="s")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), json_values)
def test_matrix_wrongly_typed_fields_never_raise(data: st.DataObject, value: Any) -> None:
    sample = data.draw(st.sampled_from(SAMPLES))
    path = data.draw(st.sampled_from(_paths(sample)))
    result = _convert(_with(sample, path, value))
    if path == ("type",) and not isinstance(value, str):
        assert isinstance(result, UnknownEvent)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(SAMPLES), st.integers(min_value=0, max_value=400))
def test_matrix_truncated_json_never_raises(sample: dict[str, Any], cut: int) -> None:
    text = json.dumps(sample)[:cut]
    try:
        value = json.loads(text)
    except ValueError:
        return  # nio never hands over what does not parse
    if isinstance(value, dict):
        _convert(value)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.builds(
            SimpleNamespace,
            user_id=json_values,
            event_id=json_values,
            receipt_type=json_values,
            timestamp=json_values,
        ),
        max_size=4,
    )
)
def test_matrix_garbled_receipts_never_raise(receipts: list[SimpleNamespace]) -> None:
    for event in Converter(ME).receipts(ROOM, receipts, "@me:example.org"):
        assert isinstance(event, Event)


# -- garbage into running adapters ---------------------------------------------------------

SYNC_GARBAGE = {
    "not JSON": b"\x00\xff<html>502 Bad Gateway</html>",
    "wrongly typed JSON": json.dumps(
        {"next_batch": 5, "rooms": {"join": {"!x:y": {"timeline": {"events": [{"type": 5}]}}}}}
    ).encode(),
    "truncated JSON": b'{"next_batch": "s1_2", "rooms": {"join": {',
    "an empty object": b"{}",
}


def _http_200(body: bytes) -> bytes:
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"Connection: close\r\n\r\n" + body


@pytest.mark.asyncio
async def test_garbage_sync_responses_do_not_kill_the_matrix_loop(
    synapse: SynapseInstance, make_matrix_user: MakeUser, tmp_path: Path, figures: Figures
) -> None:
    alice_user, bob_user = await make_matrix_user(synapse), await make_matrix_user(synapse)
    proxy = MeddlingProxy.for_url(synapse.url)
    await proxy.start()
    try:
        behind = adapter_for(
            dataclasses.replace(alice_user, homeserver=proxy.url),
            tmp_path / "alice",
            sync_timeout_ms=1000,
            max_backoff=0.5,
        )
        bob = adapter_for(bob_user, tmp_path / "bob")
        async with Client(behind) as a, Client(bob) as b:
            room = await b.create_conversation(
                "matrix", name="garbage", members=[behind.account], encrypted=False
            )
            await join(alice_user, room.address.id)
            inbox = EventWaiter(a, 20)
            delivered = 0
            for name, body in SYNC_GARBAGE.items():
                proxy.replace(b"/sync?", _http_200(body))
                with anyio.fail_after(15):
                    while proxy.hits < delivered + 1:  # noqa: ASYNC110
                        await anyio.sleep(0.02)
                await b.send(room.address, f"after {name}")
                wanted = f"after {name}"
                got = await inbox.next(MessageReceived, lambda e: e.text == wanted)  # noqa: B023
                assert got.text == wanted
                delivered += 1
            health = a.health()[f"matrix:{alice_user.user_id}"]
            states = [e.state for e in inbox.skipped if isinstance(e, ConnectionStateChanged)]
    finally:
        await proxy.close()
    figures(
        "6 garbage /sync answers into a running Matrix adapter",
        sent=len(SYNC_GARBAGE),
        delivered=delivered,
        duplicated=0,
        lost=len(SYNC_GARBAGE) - delivered,
        garbage_answers=proxy.hits,
        reconnects_reported=states.count(ConnectionState.RECONNECTING),
    )
    assert health.state is ConnectionState.CONNECTED


BOB, CAROL = "+15550000002", "+15550000003"
LINE_GARBAGE = [
    b"\x00\xffgarbage{\n",
    b'{"jsonrpc":"2.0","method":"receive","params":{"subscription":0,"result":{"envelo\n',
    b'{"jsonrpc":"2.0","method":"receive","params":{"subscription":0,"result":{"envelope":5}}}\n',
    b'{"jsonrpc":"2.0","method":"receive","params":{"subscription":0,"result":'
    b'{"envelope":{"sourceNumber":"+15550000003","timestamp":"soon","dataMessage":[]}}}}\n',
    b'{"jsonrpc":"2.0","method":"receive","params":[1,2,3]}\n',
    b"[]\n",
    b"\n\n\r\n",
    b'{"jsonrpc":"2.0","id":999999,"result":{}}\n',
    b"[" * 5000 + b"\n",
]


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_garbage_in_the_signal_event_stream_does_not_kill_the_loop(
    figures: Figures,
) -> None:
    network = EmulatedNetwork()
    network.register(BOB)
    network.register(CAROL)
    async with (
        Daemon(network, [BOB], receive_mode=ReceiveMode.MANUAL) as daemon,
        serve_tcp(daemon) as server,
    ):
        proxy = MeddlingProxy("127.0.0.1", server.port)
        await proxy.start()
        try:
            adapter = SignalAdapter.create(BOB, f"tcp://127.0.0.1:{proxy.port}", request_timeout=3)
            async with Client(adapter) as bob:
                inbox = EventWaiter(bob, 10)
                for i, garbage in enumerate(LINE_GARBAGE):
                    await proxy.inject(garbage)
                    network.send_text(CAROL, BOB, f"after garbage {i}")
                    wanted = f"after garbage {i}"
                    await inbox.next(MessageReceived, lambda e: e.text == wanted)  # noqa: B023
                sent = await bob.send(Address.signal(CAROL), "still sending")
                unknown = [e for e in inbox.skipped if isinstance(e, UnknownEvent)]
                states = [e for e in inbox.skipped if isinstance(e, ConnectionStateChanged)]
        finally:
            await proxy.close()
    figures(
        "6 garbage lines in a running Signal event stream",
        sent=len(LINE_GARBAGE),
        delivered=len(LINE_GARBAGE),
        duplicated=0,
        lost=0,
        garbage_lines=len(LINE_GARBAGE),
        unknown_events=len(unknown),
        reconnects=len(states),
    )
    assert not sent.failed
    assert states == [], "garbage must not cost the connection"
