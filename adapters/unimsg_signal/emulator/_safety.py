"""Safety numbers: what two Signal users compare to verify each other's identity keys."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._network import Account

__all__ = ["safety_number"]


def _fingerprint_digits(key: bytes, aci: str) -> str:
    digest = hashlib.sha512(key + aci.encode()).digest()
    return "".join(
        f"{int.from_bytes(digest[i : i + 5], 'big') % 100000:05d}" for i in range(0, 30, 5)
    )


def safety_number(a: Account, b: Account) -> str:
    """The 60-digit safety number of two accounts, same from both sides."""
    halves = sorted(
        [_fingerprint_digits(a.identity_key, a.aci), _fingerprint_digits(b.identity_key, b.aci)]
    )
    return "".join(halves)
