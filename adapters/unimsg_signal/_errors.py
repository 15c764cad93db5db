"""signal-cli failures as unimsg exceptions: the only place that maps them.

Two sources: JSON-RPC error objects (``code``, ``message``, ``data``) and the
per-recipient ``results`` of sending methods. A send that reached nobody comes
back as an error whose ``data.response`` holds those results, so both paths
meet in `send_failure`.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence
from typing import Any

from unimsg import (
    Address,
    AuthenticationError,
    ConnectError,
    DeliveryError,
    InvalidAddressError,
    InvalidContentError,
    NotFoundError,
    NotSupportedError,
    OutcomeUnknownError,
    PermissionDeniedError,
    RateLimitedError,
    RecipientResult,
    RemoteError,
    RemoteProtocolError,
    SendStatus,
    UnimsgError,
    UnknownIdentityError,
    UnregisteredRecipientError,
    UntrustedIdentityError,
)

from ._jsonrpc import ErrorResponse

__all__ = [
    "SENDING",
    "CaptchaRequiredError",
    "RateLimitedOutcomeUnknownError",
    "delivered_to",
    "map_error",
    "not_served",
    "parse_results",
    "recipient_address",
    "send_failure",
    "unknown_identity",
]


class CaptchaRequiredError(RateLimitedError):
    """Signal rate-limits this account until a captcha is solved.

    Solve one at https://signalcaptchas.org/challenge/generate.html and pass
    ``captcha_token`` with the result to ``SignalAdapter.submit_captcha``.
    """

    def __init__(
        self, message: str, *, captcha_token: str, retry_after: float | None = None
    ) -> None:
        self.captcha_token = captcha_token
        super().__init__(message, retry_after=retry_after)


USER_ERROR = -1
IO_ERROR = -3
UNTRUSTED_KEY_ERROR = -4
RATELIMIT_ERROR = -5
CAPTCHA_REJECTED_ERROR = -6
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603

#: Methods that put something on the Signal service: repeating one can duplicate it.
SENDING = frozenset(
    {"send", "sendReaction", "remoteDelete", "sendTyping", "sendReceipt", "updateGroup"}
)
# signal-cli 0.14.5 (AsamK/signal-cli#2071): "Failed to send message: [429] Rate limit
# exceeded: 429 (RateLimitException) (UnexpectedErrorException)"; older: "[413] Rate limit
# exceeded". Raised part-way through a send, after some recipients may have it.
_SERVER_RATE_LIMIT = re.compile(r"\[(?:413|429)\] rate limit|ratelimitexception", re.IGNORECASE)


class RateLimitedOutcomeUnknownError(RateLimitedError, OutcomeUnknownError):
    """The Signal service rate-limited a send part-way: some recipients may have it.

    Both a `RateLimitedError` (wait before sending more) and an
    `OutcomeUnknownError` (sending the same message again can duplicate it).
    """


def not_served(account: str, detail: str) -> str:
    """The message for a daemon that does not serve ``account`` (every transport)."""
    return (
        f"the signal-cli daemon does not serve {account} ({detail}): start it with -a "
        f"{account}, or register or link that account, or set multi_account = true for a "
        "daemon started without -a that serves it"
    )


_STATUS = {
    "SUCCESS": SendStatus.DELIVERED,
    "NETWORK_FAILURE": SendStatus.NETWORK_FAILURE,
    "UNREGISTERED_FAILURE": SendStatus.UNREGISTERED,
    "IDENTITY_FAILURE": SendStatus.UNTRUSTED_IDENTITY,
    "RATE_LIMIT_FAILURE": SendStatus.RATE_LIMITED,
    # A stale pre-key is a transient network-side problem for the caller.
    "INVALID_PRE_KEY_FAILURE": SendStatus.NETWORK_FAILURE,
}


def recipient_address(value: Any) -> Address | None:
    """``{"number", "uuid", "username"}`` as printed by signal-cli, as an address."""
    if not isinstance(value, dict):
        return None
    for key, prefix in (("number", ""), ("uuid", ""), ("username", "u:")):
        text = value.get(key)
        if isinstance(text, str) and text:
            address = _address(prefix + text)
            if address is not None:
                return address
    return None


@functools.lru_cache(maxsize=1024)
def _delivered(recipient: Address) -> RecipientResult:
    return RecipientResult(recipient=recipient, status=SendStatus.DELIVERED)


@functools.lru_cache(maxsize=1024)
def _address(text: str) -> Address | None:
    # Every send's receipt names its recipients again; addresses are immutable.
    try:
        return Address.parse(f"signal:{text}")
    except InvalidAddressError:
        return None


def _retry_after(item: dict[str, Any]) -> float | None:
    value = item.get("retryAfterSeconds")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return max(0.0, float(value))
    return None


@functools.lru_cache(maxsize=1024)
def delivered_to(number: str) -> RecipientResult | None:
    """The result of a delivery to ``number`` as signal-cli prints it (``None``: not a
    valid address, so `parse_results` goes on to the row's other names)."""
    address = _address(number)
    return None if address is None else _delivered(address)


def parse_results(result: Any, fallback: Address) -> tuple[RecipientResult, ...]:
    """Per-recipient outcomes of a SendResults object (tolerates odd shapes)."""
    items = result.get("results") if isinstance(result, dict) else None
    if not isinstance(items, list):
        return ()
    out: list[RecipientResult] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind == "SUCCESS" and "retryAfterSeconds" not in item:
            # Nearly every answer: delivered, nothing more to read.
            who = recipient_address(item.get("recipientAddress")) or fallback
            out.append(_delivered(who))
            continue
        status = _STATUS.get(kind if isinstance(kind, str) else "", SendStatus.NETWORK_FAILURE)
        token = item.get("token")
        if status is SendStatus.RATE_LIMITED and isinstance(token, str) and token:
            status = SendStatus.CAPTCHA_REQUIRED
        detail = None if status is SendStatus.DELIVERED else str(kind)
        retry = _retry_after(item)
        if retry is not None:
            detail = f"{kind}, retry after {retry:g}s"
        who = recipient_address(item.get("recipientAddress")) or fallback
        out.append(RecipientResult(recipient=who, status=status, detail=detail))
    return tuple(out)


def _limits(result: Any) -> tuple[float | None, str | None]:
    """The longest ``retryAfterSeconds`` and the first challenge token of a result."""
    items = result.get("results") if isinstance(result, dict) else None
    retry: float | None = None
    token: str | None = None
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        value = _retry_after(item)
        if value is not None:
            retry = value if retry is None else max(retry, value)
        if token is None and isinstance(item.get("token"), str) and item["token"]:
            token = item["token"]
    return retry, token


def send_failure(
    results: Sequence[RecipientResult], raw: Any, what: str = "message"
) -> UnimsgError:
    """The error for a send that reached none of ``results``."""
    statuses = {r.status for r in results}
    if statuses and statuses <= {SendStatus.RATE_LIMITED, SendStatus.CAPTCHA_REQUIRED}:
        retry, token = _limits(raw)
        if token is None:
            return RateLimitedError(f"Signal rate-limited this {what}", retry_after=retry)
        return CaptchaRequiredError(
            f"Signal rate-limited this {what} and asks for a captcha: solve one at "
            "https://signalcaptchas.org/challenge/generate.html, then call "
            "submit_captcha with the error's captcha_token",
            captcha_token=token,
            retry_after=retry,
        )
    if statuses == {SendStatus.UNTRUSTED_IDENTITY}:
        who = results[0].recipient
        return UntrustedIdentityError(
            f"the safety number of {who} changed: verify it and trust the new identity "
            "(or use trust_policy='always') before sending",
            results,
            recipient=who,
        )
    if statuses == {SendStatus.UNREGISTERED}:
        names = ", ".join(str(r.recipient) for r in results)
        return UnregisteredRecipientError(f"{names} has no Signal account", results)
    details = "; ".join(f"{r.recipient}: {r.detail}" for r in results)
    return DeliveryError(f"the {what} reached no recipient ({details})", results)


def map_error(method: str, error: ErrorResponse, *, fallback: Address, account: str) -> UnimsgError:
    """The unimsg exception for a JSON-RPC error answer to ``method``."""
    code, message = error.code, error.message
    data = error.data if isinstance(error.data, dict) else {}
    response = data.get("response")
    if code in (USER_ERROR, UNTRUSTED_KEY_ERROR, RATELIMIT_ERROR) and isinstance(response, dict):
        results = parse_results(response, fallback)
        if results and not any(r.ok for r in results):
            return send_failure(results, response)
    if code == UNTRUSTED_KEY_ERROR:
        return UntrustedIdentityError(f"{method}: {message}", recipient=fallback)
    if code == RATELIMIT_ERROR:
        return RateLimitedError(f"Signal rate-limited {method}: {message}")
    if code == CAPTCHA_REJECTED_ERROR:
        return AuthenticationError(f"the captcha was rejected: {message}")
    if code == IO_ERROR:
        return ConnectError(f"signal-cli could not reach the Signal servers ({method}): {message}")
    if code == METHOD_NOT_FOUND:
        return NotSupportedError("signal", method, f"this signal-cli daemon lacks it ({message})")
    if code == INVALID_PARAMS:
        return NotFoundError(not_served(account, message))
    if code == INTERNAL_ERROR and _SERVER_RATE_LIMIT.search(message):
        if method in SENDING:
            return RateLimitedOutcomeUnknownError(
                f"Signal rate-limited this {method} part-way: some recipients may have "
                f"received it, so the outcome is unknown; wait before sending more, and do "
                f"not resend it blindly (signal-cli: {message})"
            )
        return RateLimitedError(f"Signal rate-limited {method}: {message}")
    if code == INTERNAL_ERROR:
        text = f"signal-cli failed in {method}: {message}"
        # Attachment uploads and network trouble surface as internal errors of sends.
        return DeliveryError(text) if method in SENDING else RemoteError(text)
    if code == USER_ERROR and method == "trust":
        return _trust_error(message, fallback)
    if code == USER_ERROR:
        return _user_error(method, message)
    if code in (-32700, -32600):
        return RemoteProtocolError(f"signal-cli could not read the {method} request: {message}")
    return RemoteError(f"signal-cli error {code} in {method}: {message}")


def unknown_identity(person: Address) -> UnknownIdentityError:
    return UnknownIdentityError(
        f"no identity key of {person} is known yet, so there is nothing to trust: "
        "signal-cli learns it from the first message exchanged with them"
    )


def _trust_error(message: str, person: Address) -> UnimsgError:
    lowered = message.lower()
    if "failed to set the trust" in lowered and "safety number" not in lowered:
        # trustAllKnownKeys fails only when signal-cli knows no identity key of the person.
        return unknown_identity(person)
    if "failed to set the trust" in lowered:
        return InvalidContentError(
            f"the safety number does not match the identity key of {person}: compare it "
            f"again ({message})"
        )
    return _user_error("trust", message)


def _user_error(method: str, message: str) -> UnimsgError:
    lowered = message.lower()
    if "not registered" in lowered:
        return UnregisteredRecipientError(message)
    if "not found" in lowered or "could not find" in lowered or "unknown" in lowered:
        return NotFoundError(message)
    if lowered.startswith("invalid") or "empty message" in lowered or "syntax" in lowered:
        return InvalidContentError(f"{method}: {message}")
    if "not a member" in lowered or "not allowed" in lowered or "admin" in lowered:
        return PermissionDeniedError(message)
    if "failed to send" in lowered:
        return DeliveryError(message)
    return RemoteError(f"{method}: {message}")
