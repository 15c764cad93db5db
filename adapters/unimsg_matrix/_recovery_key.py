"""The recovery key: the secret-storage key as the operator writes it down.

The Matrix specification's encoding (client-server API, "Key representation"):
the 32-byte key prefixed with 0x8B 0x01, followed by a parity byte that makes
the XOR of all bytes zero, in base58 (Bitcoin alphabet) and grouped by four
characters with spaces. Element shows and accepts exactly this form.
"""

from __future__ import annotations

import os
import secrets
from functools import reduce
from operator import xor
from pathlib import Path

import base58

from unimsg import UsageError

from ._crypto_errors import RecoveryKeyError
from ._redact import remember_secret

__all__ = ["RecoveryKey", "read_recovery_key", "write_recovery_key"]

_PREFIX = bytes([0x8B, 0x01])
_KEY_BYTES = 32


class RecoveryKey:
    """A secret-storage key. Its repr and str never show it; `encoded` does."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if len(key) != _KEY_BYTES:
            raise RecoveryKeyError(f"a recovery key holds {_KEY_BYTES} bytes, not {len(key)}")
        self._key = bytes(key)
        remember_secret(self.encoded)
        remember_secret(self.encoded.replace(" ", ""))

    @classmethod
    def generate(cls) -> RecoveryKey:
        return cls(secrets.token_bytes(_KEY_BYTES))

    @classmethod
    def parse(cls, text: str) -> RecoveryKey:
        """Read the form Element shows ("EsTc 5rr1 ..."); spaces and line breaks are ignored."""
        compact = "".join(text.split())
        try:
            raw = base58.b58decode(compact)
        except ValueError:
            raise RecoveryKeyError(
                "the recovery key is malformed: it has characters that base58 does not use"
            ) from None
        if len(raw) != len(_PREFIX) + _KEY_BYTES + 1 or not raw.startswith(_PREFIX):
            raise RecoveryKeyError(
                "the recovery key is malformed: it is not 48 characters of a Matrix recovery key"
            )
        if reduce(xor, raw, 0) != 0:
            raise RecoveryKeyError("the recovery key is mistyped: its parity check fails")
        return cls(raw[len(_PREFIX) : -1])

    @property
    def key(self) -> bytes:
        return self._key

    @property
    def encoded(self) -> str:
        body = _PREFIX + self._key
        text = base58.b58encode(body + bytes([reduce(xor, body, 0)])).decode("ascii")
        return " ".join(text[i : i + 4] for i in range(0, len(text), 4))

    def __repr__(self) -> str:
        return "<RecoveryKey [secure]>"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RecoveryKey):
            return NotImplemented
        return secrets.compare_digest(self._key, other._key)

    def __hash__(self) -> int:
        return hash(RecoveryKey)


def write_recovery_key(path: Path, key: RecoveryKey, user_id: str) -> None:
    """Write ``key`` to a new file only its owner can read; never replace an existing one."""
    path = path.expanduser()
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise UsageError(
            f"{path} already exists: it may hold the recovery key of an earlier set-up; "
            "move it somewhere safe, then start again"
        ) from None
    except OSError as exc:
        raise UsageError(f"cannot write the recovery key to {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(
            f"# Matrix recovery key of {user_id}: it unlocks the account's cross-signing\n"
            "# keys and message backup. Keep it secret and off this machine.\n"
            f"{key.encoded}\n"
        )
        out.flush()
        os.fsync(out.fileno())


def read_recovery_key(text: str) -> RecoveryKey:
    """The key in ``text``: a bare key, or the file `write_recovery_key` writes."""
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return RecoveryKey.parse(" ".join(lines))
