"""Server-side key backup (``m.megolm_backup.v1.curve25519-aes-sha2``).

Every Megolm session this device holds is encrypted to the backup's Curve25519
public key (libolm's "PkEncryption" scheme, from vodozemac) and uploaded in
batches after each sync; a device holding the private key (from secret storage)
downloads and imports them, and then reads history from before it existed.
The backup version's ``auth_data`` must carry a signature of our master key:
a backup someone else replaced on the server is never used.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

import nio
import vodozemac

from ._crosssigning import SigningKey, b64, signed_by, unb64
from ._crypto_errors import KeyBackupTrustError
from ._session import Session

__all__ = ["ALGORITHM", "KeyBackup", "BackupKey"]

log = logging.getLogger("unimsg.matrix")

ALGORITHM = "m.megolm_backup.v1.curve25519-aes-sha2"
SECRET_NAME = "m.megolm_backup.v1"  # noqa: S105 (the name, not a secret)
_VERSION = "/_matrix/client/v3/room_keys/version"
_KEYS = "/_matrix/client/v3/room_keys/keys"
_BATCH = 200
_STATE_FILE = "backup.json"


class BackupKey:
    """The backup's Curve25519 private key; repr and str never show it."""

    __slots__ = ("_secret", "public")

    def __init__(self, secret: bytes) -> None:
        self._secret = vodozemac.Curve25519SecretKey.from_bytes(secret)
        self.public = b64(vodozemac.PkDecryption.from_key(self._secret).public_key.to_bytes())

    @classmethod
    def generate(cls) -> BackupKey:
        return cls(os.urandom(32))

    @classmethod
    def from_b64(cls, text: str) -> BackupKey:
        return cls(unb64(text))

    @property
    def secret_b64(self) -> str:
        return b64(self._secret.to_bytes())

    def decrypt(self, data: dict[str, Any]) -> Any:
        """The session data as JSON (not checked: the caller reads the fields it needs)."""
        message = vodozemac.Message(
            unb64(data["ciphertext"]), unb64(data["mac"]), unb64(data["ephemeral"])
        )
        return json.loads(vodozemac.PkDecryption.from_key(self._secret).decrypt(message))

    def __repr__(self) -> str:
        return f"<BackupKey {self.public}>"

    __str__ = __repr__


def _encrypt(public: str, payload: dict[str, Any]) -> dict[str, str]:
    encryption = vodozemac.PkEncryption.from_key(
        vodozemac.Curve25519PublicKey.from_bytes(unb64(public))
    )
    message = encryption.encrypt(json.dumps(payload).encode())
    return {
        "ciphertext": b64(message.ciphertext),
        "mac": b64(message.mac),
        "ephemeral": b64(message.ephemeral_key),
    }


def check_trusted(
    info: dict[str, Any], user_id: str, master: SigningKey, devices: dict[str, Any]
) -> None:
    """Raise unless the backup's auth data is signed by our master key, or by one of our
    devices that our self-signing key signed (``devices``: /keys/query's, already checked)."""
    auth = info.get("auth_data")
    version = info.get("version")
    if info.get("algorithm") != ALGORITHM or not isinstance(auth, dict):
        raise KeyBackupTrustError(
            f"the key backup version {version} uses {info.get('algorithm')!r}, not {ALGORITHM}"
        )
    if signed_by(auth, user_id, master.public, master.public):
        return
    for device_id, device in devices.items():
        key = device.get("keys", {}).get(f"ed25519:{device_id}")
        if isinstance(key, str) and signed_by(auth, user_id, device_id, key):
            return
    raise KeyBackupTrustError(
        f"the key backup version {version} on the server is not signed by this account's "
        f"master key {master.public} nor by one of its cross-signed devices: it was not "
        "made by this account and is not used"
    )


class KeyBackup:
    """Uploads this device's Megolm sessions to one trusted backup version; restores them."""

    def __init__(self, session: Session, version: str, public_key: str) -> None:
        self._session = session
        self.version = version
        self.public_key = public_key
        self._path = session.state.root / _STATE_FILE
        self._uploaded: set[str] = set()
        self.failed: str | None = None
        self._load()

    # -- versions -------------------------------------------------------------------------------

    @staticmethod
    async def current(session: Session) -> dict[str, Any] | None:
        status, body = await session.request_status(
            "GET", _VERSION, None, "read the key backup version", accept=frozenset({404})
        )
        return None if status == 404 else body

    @staticmethod
    async def create(session: Session, key: BackupKey, master: SigningKey) -> str:
        auth: dict[str, Any] = {"public_key": key.public}
        auth = master.sign(auth, session.user_id)
        olm = session.client.olm
        if olm is not None:
            signature = olm.sign_json({"public_key": key.public})
            auth["signatures"][session.user_id][f"ed25519:{session.device_id}"] = signature
        body = {"algorithm": ALGORITHM, "auth_data": auth}
        answer = await session.request("POST", _VERSION, body, "create a key backup")
        version = answer.get("version")
        if not isinstance(version, str):
            raise KeyBackupTrustError("the homeserver created a key backup without a version")
        log.info("created key backup version %s for %s", version, session.user_id)
        return version

    # -- local record of what was uploaded ------------------------------------------------------

    def _load(self) -> None:
        try:
            data = json.loads(self._path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if isinstance(data, dict) and data.get("version") == self.version:
            self._uploaded = {s for s in data.get("uploaded", []) if isinstance(s, str)}

    def _save(self) -> None:
        data = {"version": self.version, "uploaded": sorted(self._uploaded)}
        fd, tmp = tempfile.mkstemp(dir=self._path.parent, prefix=".backup-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(data, out)
            os.replace(tmp, self._path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @staticmethod
    def _mark(session: nio.crypto.InboundGroupSession) -> str:
        return f"{session.room_id}|{session.id}|{session.first_known_index}"

    # -- upload -----------------------------------------------------------------------------------

    def pending(self) -> list[nio.crypto.InboundGroupSession]:
        olm = self._session.client.olm
        if olm is None:
            return []
        return [s for s in olm.inbound_group_store if self._mark(s) not in self._uploaded]

    async def upload_pending(self) -> int:
        """Upload every session not yet in the backup, in batches; how many were sent."""
        if self.failed is not None:
            return 0
        pending = self.pending()
        for start in range(0, len(pending), _BATCH):
            batch = pending[start : start + _BATCH]
            rooms: dict[str, Any] = {}
            for group in batch:
                payload = {
                    "algorithm": "m.megolm.v1.aes-sha2",
                    "sender_key": group.sender_key,
                    "sender_claimed_keys": {"ed25519": group.ed25519},
                    "forwarding_curve25519_key_chain": group.forwarding_chain,
                    "session_key": group.export_session(group.first_known_index),
                }
                rooms.setdefault(group.room_id, {"sessions": {}})["sessions"][group.id] = {
                    "first_message_index": group.first_known_index,
                    "forwarded_count": len(group.forwarding_chain),
                    "is_verified": False,
                    "session_data": _encrypt(self.public_key, payload),
                }
            path = f"{_KEYS}?version={quote(self.version)}"
            status, answer = await self._session.request_status(
                "PUT",
                path,
                {"rooms": rooms},
                "upload room keys to the backup",
                accept=frozenset({403, 404}),
            )
            if status in (403, 404):
                # M_WRONG_ROOM_KEYS_VERSION: another client replaced the backup.
                self.failed = (
                    f"the key backup version {self.version} was replaced or deleted on the "
                    f"server ({answer.get('errcode')}); room keys are no longer backed up"
                )
                log.warning("%s", self.failed)
                return start
            self._uploaded.update(self._mark(s) for s in batch)
            self._save()
        if pending:
            log.debug("backed up %d room keys to version %s", len(pending), self.version)
        return len(pending)

    # -- restore ----------------------------------------------------------------------------------

    async def restore(self, key: BackupKey) -> tuple[int, int]:
        """Import every session of the backup into nio's store: (imported, total)."""
        path = f"{_KEYS}?version={quote(self.version)}"
        answer = await self._session.request("GET", path, None, "download the key backup")
        imported = total = 0
        rooms = answer.get("rooms")
        for room_id, room in (rooms or {}).items():
            sessions = room.get("sessions") if isinstance(room, dict) else None
            for session_id, entry in (sessions or {}).items():
                total += 1
                imported += self._import(key, room_id, session_id, entry)
        self._save()
        log.info(
            "restored %d of %d room keys from backup version %s", imported, total, self.version
        )
        return imported, total

    async def restore_session(self, key: BackupKey, room_id: str, session_id: str) -> bool:
        """Fetch one session (a late or missing room key); whether a new one was imported."""
        path = (
            f"{_KEYS}/{quote(room_id, safe='')}/{quote(session_id, safe='')}"
            f"?version={quote(self.version)}"
        )
        status, entry = await self._session.request_status(
            "GET", path, None, "fetch a room key from the backup", accept=frozenset({404})
        )
        if status == 404:
            return False
        imported = self._import(key, room_id, session_id, entry)
        self._save()
        return imported

    def _import(self, key: BackupKey, room_id: str, session_id: str, entry: object) -> bool:
        olm = self._session.client.olm
        if olm is None:
            return False
        if not isinstance(entry, dict):
            log.warning("skipped backed-up room key %s of %s: not an object", session_id, room_id)
            return False
        try:
            data = key.decrypt(entry["session_data"])
            group = nio.crypto.InboundGroupSession.import_session(
                data["session_key"],
                data["sender_claimed_keys"]["ed25519"],
                data["sender_key"],
                room_id,
                data.get("forwarding_curve25519_key_chain", []),
            )
        except (
            KeyError,
            TypeError,
            ValueError,
            vodozemac.PkDecodeException,
            vodozemac.SessionKeyDecodeException,
        ) as exc:
            log.warning(
                "skipped backed-up room key %s of %s: %s", session_id, room_id, type(exc).__name__
            )
            return False
        if group.id != session_id:
            log.warning("skipped backed-up room key %s: its id does not match", session_id)
            return False
        self._uploaded.add(self._mark(group))
        if olm.inbound_group_store.add(group):
            olm.save_inbound_group_session(group)
            return True
        return False
