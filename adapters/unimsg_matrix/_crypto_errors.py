"""Errors of cross-signing, secret storage and key backup.

    EncryptionError
    └── CrossSigningError           the account's identity keys stand in the way
        ├── RecoveryKeyError        malformed or wrong recovery key (also a ValueError)
        ├── RecoveryKeyRequiredError  keys exist on the server, this device has no copy
        ├── SecretStorageError      a secret-storage entry is missing or corrupted
        └── KeyBackupTrustError     the server's key backup is not signed by a trusted key

None of them ever carries a key: messages name key ids and public keys only.
"""

from __future__ import annotations

from unimsg import EncryptionError

__all__ = [
    "CrossSigningError",
    "KeyBackupTrustError",
    "RecoveryKeyError",
    "RecoveryKeyRequiredError",
    "SecretStorageError",
]


class CrossSigningError(EncryptionError):
    """Cross-signing could not be set up or restored; nothing on the server was replaced."""


class RecoveryKeyError(CrossSigningError, ValueError):
    """The recovery key is malformed, or does not open this account's secret storage."""


class RecoveryKeyRequiredError(CrossSigningError):
    """The account has cross-signing keys, but neither this store nor a recovery key holds them."""


class SecretStorageError(CrossSigningError):
    """A secret-storage entry is missing, unreadable, or disagrees with the published keys."""


class KeyBackupTrustError(CrossSigningError):
    """The server-side key backup is not signed by a key this account trusts."""
