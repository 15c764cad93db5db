"""One recipient's outcome of a send: what a `SentMessage` and delivery errors list.

Built by adapters; apart from `unimsg._types` so that the client's import
does not build them.
"""

from __future__ import annotations

import enum

import attrs

from ._address import Address

__all__ = ["RecipientResult", "SendStatus"]


class SendStatus(enum.Enum):
    """One recipient's outcome of a send."""

    DELIVERED = "delivered"
    NETWORK_FAILURE = "network_failure"
    UNREGISTERED = "unregistered"
    UNTRUSTED_IDENTITY = "untrusted_identity"
    RATE_LIMITED = "rate_limited"
    CAPTCHA_REQUIRED = "captcha_required"


@attrs.frozen(kw_only=True)
class RecipientResult:
    recipient: Address
    status: SendStatus
    detail: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is SendStatus.DELIVERED
