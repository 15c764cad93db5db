"""Which forwarded room keys the adapter takes: own trusted devices, or the session's creator."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from nio.crypto.key_request import OutgoingKeyRequest
from unimsg_matrix._keyrequests import KeyRequests

ROOM = "!room:example.org"
CREATOR_KEY = "creator-curve25519"


def _forward(sender_key: str, *, room: str = ROOM, chain: list[str] | None = None) -> Any:
    content = {
        "room_id": room,
        "session_id": "S1",
        "sender_key": sender_key,
        "forwarding_curve25519_key_chain": chain or [],
    }
    return SimpleNamespace(
        source={"content": content}, session_id="S1", room_id=room, sender="@peer:example.org"
    )


@pytest.fixture
def accept(tmp_path: Path) -> Any:
    olm = SimpleNamespace(
        outgoing_key_requests={"S1": OutgoingKeyRequest("r1", "S1", ROOM, "m.megolm.v1.aes-sha2")},
        # nio's own rule: only this account's verified devices (none here).
        _should_accept_forward=lambda sender, sender_key, event: sender_key == "own-device",
    )
    session = SimpleNamespace(
        client=SimpleNamespace(olm=olm),
        state=SimpleNamespace(root=tmp_path),
        user_id="@bot:example.org",
        device_id="BOT",
    )
    KeyRequests(session, lambda room_id, event: None)  # type: ignore[arg-type]
    return olm._should_accept_forward


def test_own_trusted_devices_still_accepted(accept: Any) -> None:
    assert accept("@bot:example.org", "own-device", _forward("someone-else"))


def test_the_sessions_creator_is_accepted(accept: Any) -> None:
    assert accept("@peer:example.org", CREATOR_KEY, _forward(CREATOR_KEY))


@pytest.mark.parametrize(
    ("sender_key", "forward"),
    [
        ("other-device", _forward(CREATOR_KEY)),  # forwards someone else's session
        (CREATOR_KEY, _forward(CREATOR_KEY, room="!other:example.org")),  # not what we asked
        (CREATOR_KEY, _forward(CREATOR_KEY, chain=["middle"])),  # came through others
    ],
    ids=["not-the-creator", "other-room", "forwarded-on"],
)
def test_others_are_refused(accept: Any, sender_key: str, forward: Any) -> None:
    assert not accept("@peer:example.org", sender_key, forward)


def test_unrequested_keys_are_refused(accept: Any) -> None:
    forward = _forward(CREATOR_KEY)
    forward.session_id = "S2"
    assert not accept("@peer:example.org", CREATOR_KEY, forward)
