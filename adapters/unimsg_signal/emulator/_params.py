"""signal-cli's parameter conventions (``JsonRpcNamespace``) and its errors.

signal-cli feeds JSON params into an argparse namespace without validation:
names are camelCase option destinations, list options take ``x`` (scalar or
list) or ``xs``, unknown keys are ignored, and types are plain Java casts.
The quirks matter to clients, so they are reproduced here.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from typing import Any

USER_ERROR = -1
IO_ERROR = -3
UNTRUSTED_KEY_ERROR = -4
RATELIMIT_ERROR = -5
CAPTCHA_REJECTED_ERROR = -6
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603

_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


class RpcError(Exception):
    """A JSON-RPC error object; ``data`` is serialized as given (``None`` → null)."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "data": self.data}


def user_error(message: str, response: Any = None) -> RpcError:
    return RpcError(USER_ERROR, message, None if response is None else {"response": response})


def _java_class(value: Any) -> str:
    if isinstance(value, bool):
        return "java.lang.Boolean"
    if isinstance(value, int):
        return "java.lang.Integer" if _INT_MIN <= value <= _INT_MAX else "java.lang.Long"
    if isinstance(value, float):
        return "java.lang.Double"
    if isinstance(value, str):
        return "java.lang.String"
    if isinstance(value, list):
        return "java.util.ArrayList"
    return "java.util.LinkedHashMap"


def class_cast(value: Any, target: str) -> RpcError:
    """The ``-32603`` a Java cast of a JSON value produces."""
    source = _java_class(value)
    return RpcError(
        INTERNAL_ERROR,
        f"class {source} cannot be cast to class {target} ({source} and {target} are in module "
        "java.base of loader 'bootstrap') (ClassCastException)",
    )


def null_pointer(detail: str = "null") -> RpcError:
    """A ``NullPointerException``; ``detail`` is the JVM's helpful message where it has one."""
    return RpcError(INTERNAL_ERROR, f"{detail} (NullPointerException)")


#: What the JVM says when a missing number option is unboxed straight from the namespace.
UNBOXED_NULL_LONG = (
    'Cannot invoke "java.lang.Long.longValue()" because the return value of '
    '"net.sourceforge.argparse4j.inf.Namespace.getLong(String)" is null'
)


class Params:
    """Read access to a params object the way ``JsonRpcNamespace`` does it."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw

    def get(self, name: str) -> Any:
        return self.raw.get(name)

    def string(self, name: str) -> str | None:
        value = self.raw.get(name)
        if value is None:
            return None
        # Java's toString: numbers and booleans are tolerated where text is expected.
        if isinstance(value, bool):
            return "true" if value else "false"
        return value if isinstance(value, str) else str(value)

    def strings(self, name: str) -> list[str] | None:
        """A list option: ``name`` (scalar or list), else ``name + "s"`` (list only)."""
        value = self.raw.get(name)
        if value is not None:
            return [str(v) for v in value] if isinstance(value, list) else [self._text(value)]
        plural = self.raw.get(name + "s")
        if plural is None:
            return None
        if not isinstance(plural, list):
            raise class_cast(plural, "java.util.List")
        return [self._text(v) for v in plural]

    @staticmethod
    def _text(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        return value if isinstance(value, str) else str(value)

    def boolean(self, name: str) -> bool:
        value = self.raw.get(name)
        if value is None:
            return False
        if not isinstance(value, bool):
            raise class_cast(value, "java.lang.Boolean")
        return value

    def long(self, name: str) -> int | None:
        """``getLong``: only JSON numbers Jackson decodes as ``Long`` pass."""
        value = self.raw.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or _INT_MIN <= value <= _INT_MAX:
            raise class_cast(value, "java.lang.Long")
        return value

    def longs(self, name: str) -> list[int] | None:
        value = self.raw.get(name)
        if value is None:
            value = self.raw.get(name + "s")
            if value is None:
                return None
        items = value if isinstance(value, list) else [value]
        out = []
        for item in items:
            if isinstance(item, bool) or not isinstance(item, int) or _INT_MIN <= item <= _INT_MAX:
                raise class_cast(item, "java.lang.Long")
            out.append(item)
        return out

    def integer(self, name: str) -> int | None:
        value = self.raw.get(name)
        if value is None:
            return None
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or not _INT_MIN <= value <= _INT_MAX
        ):
            raise class_cast(value, "java.lang.Integer")
        return value


_BASE64 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")


def is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return len(text) == 36


def check_number(text: str) -> str:
    """A number as signal-cli's PhoneNumberFormatter reads it: everything but digits and
    ``+`` is dropped (``+12ab`` is ``+12``); national formats are not modelled."""
    if "@" in text:
        raise user_error(f"Invalid phone number '{text}': Possible attempt to use email address.")
    kept = re.sub(r"[^0-9+]", "", text)
    if not kept:
        raise user_error(f"Invalid phone number '{text}': No valid characters found.")
    if kept.startswith("+") or _E164.match(kept):
        return kept
    raise user_error(
        f"Invalid phone number '{text}': The string supplied did not seem to be a phone number."
    )


def check_recipient(text: str) -> str:
    """Validate one ``recipient`` string (number, ACI, ``PNI:…`` or ``u:…``)."""
    if is_uuid(text) or text.startswith(("PNI:", "u:")):
        return text
    return check_number(text)


def decode_group_id(text: str) -> str:
    """Normalize a base64 group id; bad input is a user error like signal-cli's."""
    bad = next((ch for ch in text if ch not in _BASE64), None)
    if bad is not None:
        raise user_error(
            f'Invalid group id: Failed to decode groupId (must be base64) "{text}": '
            f"Illegal base64 character {ord(bad):x}"
        )
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise user_error(f"Invalid group id: {text}") from None
    if len(raw) not in (16, 32):
        raise user_error(f"Invalid group id: {text}")
    return base64.b64encode(raw).decode()
