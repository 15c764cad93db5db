"""Reading single values out of signal-cli JSON without trusting their types."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from unimsg import Address, InvalidAddressError

__all__ = [
    "MAX_MS",
    "group_address",
    "json_object",
    "millis",
    "nonempty_str",
    "person_address",
    "when",
]

# Timestamps from year 10000 on cannot come from a real clock, nor be a datetime.
MAX_MS = 253_402_300_800_000


def millis(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < MAX_MS:
        return None
    return value


def when(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def json_object(value: object) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


def nonempty_str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def person_address(*candidates: object) -> Address | None:
    for text in candidates:
        if isinstance(text, str) and text:
            try:
                address = Address.parse(f"signal:{text}")
            except InvalidAddressError:
                continue
            if address.is_person:
                return address
    return None


def group_address(group_id: object) -> Address | None:
    if not isinstance(group_id, str):
        return None
    try:
        return Address.parse(f"signal:group:{group_id}")
    except InvalidAddressError:
        return None
