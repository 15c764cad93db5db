"""The one place where matrix-nio's error values and exceptions become unimsg exceptions.

nio returns errors as values (``RoomSendError``) and raises aiohttp's
exceptions for transport failures; everything the adapter does passes its
results through `check` and its calls through `translated`, so callers only
ever see the unimsg error tree. Messages never include access tokens: nio's
error text is the server's ``error`` field, and request URLs are never quoted.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import aiohttp
import nio

from unimsg import (
    AuthenticationError,
    ConnectError,
    EncryptionError,
    InvalidContentError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    RemoteError,
    RemoteProtocolError,
    UnimsgError,
)

from ._redact import redact

__all__ = ["check", "error_for", "translated"]

T = TypeVar("T")


_BY_ERRCODE: dict[str, type[RemoteError]] = {
    "M_FORBIDDEN": PermissionDeniedError,
    "M_NOT_FOUND": NotFoundError,
    "M_UNKNOWN_TOKEN": AuthenticationError,
    "M_MISSING_TOKEN": AuthenticationError,
    "M_USER_DEACTIVATED": AuthenticationError,
    "M_NOT_JSON": RemoteProtocolError,
    "M_BAD_JSON": RemoteProtocolError,
}
_BY_STATUS: dict[int, type[RemoteError]] = {
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
}


def _status(response: Any) -> int | None:
    transport = getattr(response, "transport_response", None)
    status = getattr(transport, "status", None)
    return status if isinstance(status, int) else None


def error_for(response: nio.ErrorResponse, action: str, *, login: bool = False) -> UnimsgError:
    """The unimsg exception for an error ``response`` to ``action`` ("send to !r:hs").

    ``login``: the request presented credentials, so a refusal means they are wrong.
    """
    errcode = response.status_code if isinstance(response.status_code, str) else None
    status = _status(response)
    detail = redact(str(response.message or errcode or "unknown error"))
    message = f"{action} failed: {detail}" + (f" ({errcode})" if errcode else "")
    if errcode == "M_LIMIT_EXCEEDED" or status == 429:
        retry_ms = response.retry_after_ms
        retry_after = retry_ms / 1000 if isinstance(retry_ms, int | float) else None
        return RateLimitedError(message, retry_after=retry_after)
    if errcode == "M_TOO_LARGE" or status == 413:
        return InvalidContentError(message)
    if login and (errcode in ("M_FORBIDDEN", "M_USER_DEACTIVATED") or status in (401, 403)):
        return AuthenticationError(f"{message}: check the user id and password")
    if errcode == "M_UNKNOWN_TOKEN":
        return AuthenticationError(
            f"{action} failed: the homeserver no longer accepts this access token; "
            "log in again (give a password) or use a fresh token"
        )
    if errcode in _BY_ERRCODE:
        return _BY_ERRCODE[errcode](message)
    if errcode == "M_INVALID_PARAM" and "room" in detail.lower():
        return NotFoundError(message)
    if status in _BY_STATUS:
        return _BY_STATUS[status](message)
    return RemoteError(message)


def check(response: T, action: str, *, login: bool = False) -> T:
    """``response`` unless it is an error, which is raised as a unimsg exception."""
    if isinstance(response, nio.ErrorResponse):
        raise error_for(response, action, login=login)
    return response


@contextmanager
def translated(action: str) -> Iterator[None]:
    """Turn transport and nio exceptions raised inside the block into unimsg ones."""
    try:
        yield
    except UnimsgError:
        raise
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise ConnectError(
            f"{action} failed: cannot reach the homeserver ({type(exc).__name__}: "
            f"{redact(str(exc))})"
        ) from None
    except nio.OlmUnverifiedDeviceError as exc:
        raise EncryptionError(f"{action} failed: {exc}") from None
    except nio.LocalProtocolError as exc:
        raise RemoteProtocolError(f"{action} failed: {redact(str(exc))}") from None
    except (KeyError, ValueError, TypeError) as exc:
        # nio parses responses without validating every field: garbage from the
        # server surfaces as lookup errors deep inside it.
        raise RemoteProtocolError(
            f"{action} failed: unexpected answer from the homeserver ({type(exc).__name__})"
        ) from None
