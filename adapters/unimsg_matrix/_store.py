"""The store directory: nio's end-to-end key database plus our own small state file.

Layout under ``store_path``::

    state.json   device id, access token, sync position, direct rooms, pinned devices
    key_requests.json  encrypted events waiting for their room key (ciphertext only)
    crypto/      matrix-nio's SQLite store (Olm account, Megolm sessions, device keys)

Everything is private to the owner (directories 0700, files 0600): the
access token and the Olm account are as good as the password.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import attrs

from unimsg import UsageError

__all__ = ["StateStore", "secure_tree", "write_private_json"]

_STATE = "state.json"
_CRYPTO = "crypto"


def _private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)


def write_private_json(path: Path, data: Any, *, durable: bool = True) -> None:
    """Replace ``path`` with ``data`` as JSON, 0600; ``durable=False`` skips the fsync."""
    # Write-then-rename, so a crash never leaves half a file; mkstemp creates it 0600.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out)
            out.flush()
            if durable:
                os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def secure_tree(root: Path) -> None:
    """Tighten permissions of everything under ``root`` (nio creates files with the umask)."""
    for path in [root, *root.rglob("*")]:
        if path.is_symlink():
            continue
        os.chmod(path, 0o700 if path.is_dir() else 0o600)


@attrs.define(repr=False)
class StateStore:
    """Our part of the store directory, loaded once and rewritten atomically."""

    root: Path
    device_id: str | None = None
    user_id: str | None = None
    access_token: str | None = None
    sync_token: str | None = None
    #: Person (user id) -> room id of our direct conversation with them.
    direct: dict[str, str] = attrs.Factory(dict)
    #: Trust on first use: user id -> {device id: ed25519 key} as first seen.
    pins: dict[str, dict[str, str]] = attrs.Factory(dict)

    def __repr__(self) -> str:
        return f"<StateStore {self.root}>"

    @property
    def crypto_path(self) -> Path:
        return self.root / _CRYPTO

    @classmethod
    def open(cls, root: Path) -> StateStore:
        root = root.expanduser()
        try:
            _private_dir(root)
            _private_dir(root / _CRYPTO)
        except OSError as exc:
            raise UsageError(f"cannot create the Matrix store directory {root}: {exc}") from None
        store = cls(root)
        path = root / _STATE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return store
        except (OSError, ValueError) as exc:
            raise UsageError(
                f"the Matrix state file {path} is unreadable ({exc}); move it away to start afresh"
            ) from None
        if not isinstance(data, dict):
            raise UsageError(f"the Matrix state file {path} is not a JSON object")
        store._load(data)
        return store

    def _load(self, data: dict[str, Any]) -> None:
        def text(key: str) -> str | None:
            value = data.get(key)
            return value if isinstance(value, str) else None

        self.device_id = text("device_id")
        self.user_id = text("user_id")
        self.access_token = text("access_token")
        self.sync_token = text("sync_token")
        direct = data.get("direct")
        if isinstance(direct, dict):
            self.direct = {str(k): str(v) for k, v in direct.items()}
        pins = data.get("pins")
        if isinstance(pins, dict):
            self.pins = {
                str(user): {str(d): str(k) for d, k in devices.items()}
                for user, devices in pins.items()
                if isinstance(devices, dict)
            }

    def save(self, *, durable: bool = True) -> None:
        """Write the state file; ``durable=False`` skips the fsync.

        The sync position moves after every acknowledged batch: losing the
        newest one to a power cut only redelivers events (which the client's
        store de-duplicates), so it is not worth a disk flush each time.
        Credentials and device pins are always flushed.
        """
        data = {
            "user_id": self.user_id,
            "device_id": self.device_id,
            "access_token": self.access_token,
            "sync_token": self.sync_token,
            "direct": self.direct,
            "pins": self.pins,
        }
        write_private_json(self.root / _STATE, data, durable=durable)

    def forget_session(self) -> None:
        """Drop the access token (it was refused); keep the device for the next login."""
        self.access_token = None
        self.save()
