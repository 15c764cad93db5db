"""What the interactive verification policy is, and what it is shown."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Literal

import attrs

from unimsg import Address

__all__ = ["SasVerification", "VerificationPolicy"]


@attrs.frozen(kw_only=True)
class SasVerification:
    """A verification in progress: compare this with what the other side shows."""

    user: Address
    device_id: str
    #: Seven (emoji, name) pairs, e.g. ("🐶", "Dog").
    emoji: tuple[tuple[str, str], ...]
    #: Three numbers between 1000 and 9191.
    decimals: tuple[int, int, int]


#: ``"none"``, user ids whose verifications are accepted without asking, or an async
#: callable shown a `SasVerification` that returns whether the strings match.
VerificationPolicy = Literal["none"] | frozenset[str] | Callable[[SasVerification], Awaitable[bool]]
