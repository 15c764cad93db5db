"""The size check matches what Synapse refuses: ASCII, CJK and emoji, plaintext and encrypted."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import vodozemac
from nio.api import Api
from unimsg_matrix import _content, _outbox

from unimsg import Client, Content, InvalidContentError

from .fixtures_adapter import MakeAdapter, MakeUser, make_adapter, store_root

__all__ = ["make_adapter", "store_root"]

ALLOWANCE = _content._ENVELOPE_SLACK + 16
CHARACTERS = {"ascii": "a", "cjk": "中", "emoji": "😀"}


def _largest(fits: Callable[[int], bool]) -> int:
    low, high = 0, 70_000
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    return low


def _size(char: str, count: int, *, sender: str, room_id: str, device: str | None) -> int:
    content = _content.message_content(Content(text=char * count))
    return _content.event_size(
        content, "m.room.message", sender=sender, room_id=room_id, device_id=device
    )


@pytest.mark.asyncio
@pytest.mark.parametrize("encrypted", [False, True], ids=["plaintext", "encrypted"])
async def test_size_check_is_at_the_servers_limit(
    make_matrix_user: MakeUser,
    make_adapter: MakeAdapter,
    monkeypatch: pytest.MonkeyPatch,
    encrypted: bool,
) -> None:
    user = await make_matrix_user()
    adapter = make_adapter(user)
    async with Client(adapter) as client:
        room = await client.create_conversation("matrix", name="limits", encrypted=encrypted)
        device = adapter.device_id if encrypted else None
        figures: dict[str, tuple[int, int]] = {}
        for name, char in CHARACTERS.items():

            def size(count: int, char: str = char) -> int:
                return _size(
                    char, count, sender=user.user_id, room_id=room.address.id, device=device
                )

            largest = _largest(lambda n: size(n) <= _content.EVENT_BYTES)
            # The first length the server itself must refuse: past the limit even
            # without the check's allowance for a larger envelope (and for a longer
            # depth and Megolm message index than a new room has).
            refused = _largest(lambda n: size(n) - ALLOWANCE <= _content.EVENT_BYTES) + 1
            figures[name] = (largest, refused)

            sent = await client.send(room.address, char * largest)
            assert sent.id.startswith("$")
            with pytest.raises(InvalidContentError, match="split the text"):
                await client.send(room.address, char * (largest + 1))

            def no_check(*args: Any, **kwargs: Any) -> None:
                return None

            with monkeypatch.context() as patch:
                patch.setattr(_outbox, "check_size", no_check)
                with pytest.raises(InvalidContentError) as refusal:
                    await client.send(room.address, char * refused)
            assert "split the text" not in str(refusal.value), "the server must refuse it"

    # The figures docs/matrix.md states (user ids and room ids of ordinary length).
    if encrypted:
        assert 47_000 <= figures["ascii"][0] <= 48_000, figures
        assert 7_900 <= figures["cjk"][0] <= 8_000, figures
        assert 3_950 <= figures["emoji"][0] <= 4_000, figures
        # What an independent client found Synapse refusing after the old check passed it.
        assert figures["cjk"][0] < 12_000 and figures["emoji"][0] < 5_000
    else:
        assert 64_000 <= figures["ascii"][0] <= 64_400, figures
        assert 21_300 <= figures["cjk"][0] <= 21_500, figures
        assert 16_000 <= figures["emoji"][0] <= 16_100, figures


@pytest.mark.parametrize("char", list(CHARACTERS.values()), ids=list(CHARACTERS))
def test_encrypted_size_matches_megolm(char: str) -> None:
    """The estimate covers the ciphertext vodozemac really makes, within a few bytes."""
    session = vodozemac.GroupSession()
    room_id = "!" + "r" * 43
    for count in (1, 7, 100, 3_333):
        content = _content.message_content(Content(text=char * count))
        payload = {"type": "m.room.message", "content": content, "room_id": room_id}
        ciphertext = session.encrypt(Api.to_json(payload).encode()).to_base64()
        real = {
            "algorithm": "m.megolm.v1.aes-sha2",
            "ciphertext": ciphertext,
            "device_id": "DEVICEID",
            "sender_key": "k" * 43,
            "session_id": session.session_id,
        }
        real_size = len(json.dumps(real, separators=(",", ":")))
        estimate = _content.encrypted_content_size(content, "m.room.message", room_id, "DEVICEID")
        # The estimate assumes the longest message index (5 bytes, base64).
        assert real_size <= estimate <= real_size + 6, (count, real_size, estimate)
