"""Secret storage (client-server API, "Storage"): secrets in account data, encrypted.

Algorithm ``m.secret_storage.v1.aes-hmac-sha2``: for each secret, HKDF-SHA-256
(salt of 32 zero bytes, info = the secret's name) turns the 32-byte storage key
into an AES-256-CTR key and an HMAC-SHA-256 key; the secret is encrypted with a
random IV whose bit 63 is clear, and the MAC covers the ciphertext. The key's
description (``m.secret_storage.key.<id>``) holds the encryption of 32 zero
bytes under the empty name, so that a key can be checked without any secret.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import string
from hashlib import sha256
from typing import Any
from urllib.parse import quote

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ._crypto_errors import RecoveryKeyError, SecretStorageError
from ._recovery_key import RecoveryKey
from ._session import Session

__all__ = ["ALGORITHM", "SecretStorage", "decrypt_secret", "encrypt_secret", "key_description"]

ALGORITHM = "m.secret_storage.v1.aes-hmac-sha2"
DEFAULT_KEY = "m.secret_storage.default_key"
_ZERO = bytes(32)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: object) -> bytes | None:
    """The bytes of a base64 field, or None when it is missing or not base64."""
    if not isinstance(text, str):
        return None
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (ValueError, binascii.Error):
        return None


def _keys(key: bytes, name: str) -> tuple[bytes, bytes]:
    derived = HKDF(algorithm=hashes.SHA256(), length=64, salt=_ZERO, info=name.encode()).derive(key)
    return derived[:32], derived[32:]


def encrypt_secret(
    key: bytes, name: str, plaintext: bytes, iv: bytes | None = None
) -> dict[str, str]:
    aes_key, mac_key = _keys(key, name)
    if iv is None:
        # Bit 63 clear, so that the 64-bit counter half of the IV cannot wrap (as the spec asks).
        raw = bytearray(secrets.token_bytes(16))
        raw[8] &= 0x7F
        iv = bytes(raw)
    encryptor = Cipher(algorithms.AES(aes_key), modes.CTR(iv)).encryptor()
    ciphertext = encryptor.update(plaintext) + encryptor.finalize()
    mac = hmac.new(mac_key, ciphertext, sha256).digest()
    return {"iv": _b64(iv), "ciphertext": _b64(ciphertext), "mac": _b64(mac)}


def decrypt_secret(key: bytes, name: str, entry: object) -> bytes | None:
    """The plaintext, or None when the entry is malformed or its MAC does not match
    (wrong key or altered entry)."""
    if not isinstance(entry, dict):
        return None
    iv, ciphertext, mac = (_unb64(entry.get(field)) for field in ("iv", "ciphertext", "mac"))
    if iv is None or len(iv) != 16 or ciphertext is None or mac is None:
        return None
    aes_key, mac_key = _keys(key, name)
    if not hmac.compare_digest(hmac.new(mac_key, ciphertext, sha256).digest(), mac):
        return None
    decryptor = Cipher(algorithms.AES(aes_key), modes.CTR(iv)).decryptor()
    return decryptor.update(ciphertext) + decryptor.finalize()


def key_description(key: bytes, name: str | None = None) -> dict[str, str]:
    description = {"algorithm": ALGORITHM, **encrypt_secret(key, "", _ZERO)}
    del description["ciphertext"]
    if name is not None:
        description["name"] = name
    return description


def _key_matches(key: bytes, description: dict[str, Any]) -> bool:
    iv = _unb64(description.get("iv"))
    expected = _unb64(description.get("mac"))
    if iv is None or len(iv) != 16 or expected is None:
        return False
    ours = _unb64(encrypt_secret(key, "", _ZERO, iv)["mac"])
    return ours is not None and hmac.compare_digest(ours, expected)


class SecretStorage:
    """The account's secret storage, read and written through account data."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def _path(self, kind: str) -> str:
        user = quote(self._session.user_id, safe="")
        return f"/_matrix/client/v3/user/{user}/account_data/{quote(kind, safe='')}"

    async def account_data(self, kind: str) -> dict[str, Any] | None:
        status, body = await self._session.request_status(
            "GET", self._path(kind), None, f"read {kind}", accept=frozenset({404})
        )
        return None if status == 404 else body

    async def _put(self, kind: str, content: dict[str, Any]) -> None:
        await self._session.request("PUT", self._path(kind), content, f"store {kind}")

    async def default_key_id(self) -> str | None:
        content = await self.account_data(DEFAULT_KEY)
        key_id = content.get("key") if content else None
        return key_id if isinstance(key_id, str) and key_id else None

    async def unlock(self, recovery_key: RecoveryKey) -> str:
        """The default key's id, once ``recovery_key`` is shown to be that key."""
        key_id = await self.default_key_id()
        if key_id is None:
            raise SecretStorageError(
                "the account has no default secret-storage key, so there is nothing the "
                "recovery key could open"
            )
        description = await self.account_data(f"m.secret_storage.key.{key_id}")
        if description is None:
            raise SecretStorageError(
                f"the account's default secret-storage key {key_id} has no description"
            )
        if description.get("algorithm") != ALGORITHM:
            raise SecretStorageError(
                f"secret-storage key {key_id} uses {description.get('algorithm')!r}, "
                f"not {ALGORITHM}"
            )
        if "mac" in description and not _key_matches(recovery_key.key, description):
            raise RecoveryKeyError(
                f"the recovery key given is not the account's secret-storage key {key_id}: "
                "check that it belongs to this account"
            )
        return key_id

    async def get(self, name: str, key_id: str, key: RecoveryKey) -> bytes | None:
        """The secret ``name``, or None when the account has none."""
        content = await self.account_data(name)
        if content is None:
            return None
        encrypted = content.get("encrypted")
        entry = encrypted.get(key_id) if isinstance(encrypted, dict) else None
        if entry is None:
            raise SecretStorageError(
                f"the secret {name} is not encrypted with the default key {key_id}"
            )
        plaintext = decrypt_secret(key.key, name, entry)
        if plaintext is None:
            raise SecretStorageError(
                f"the secret-storage entry {name} is corrupted: its MAC does not match"
            )
        return plaintext

    async def put(self, name: str, value: bytes, key_id: str, key: RecoveryKey) -> None:
        await self._put(name, {"encrypted": {key_id: encrypt_secret(key.key, name, value)}})

    async def create_default_key(self, key: RecoveryKey) -> str:
        alphabet = string.ascii_letters + string.digits
        key_id = "".join(secrets.choice(alphabet) for _ in range(32))
        await self._put(f"m.secret_storage.key.{key_id}", key_description(key.key, "unimsg"))
        await self._put(DEFAULT_KEY, {"key": key_id})
        return key_id
