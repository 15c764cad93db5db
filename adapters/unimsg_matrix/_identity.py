"""The account's cryptographic identity at start-up: bootstrap, restore, or reuse.

- First start of an account without cross-signing: make the three keys, a
  secret-storage key (the recovery key, written for the operator) and a key
  backup; store the private keys and the backup key in secret storage; publish
  the public keys; sign this device.
- A store that already holds the keys the server publishes: sign this device
  if it is not yet signed, keep backing up.
- A new machine or a wiped store: with the recovery key, take the keys from
  secret storage, sign the new device and restore room keys from the backup.
  Without it, `RecoveryKeyRequiredError` says what is missing.

Keys on the server are only ever replaced with ``reset_cross_signing=True``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import anyio

from unimsg import UnimsgError

from ._backup import SECRET_NAME as BACKUP_SECRET
from ._backup import BackupKey, KeyBackup, check_trusted
from ._config import MatrixConfig
from ._crosssigning import (
    CrossSigningKeys,
    SigningKey,
    public_key_of,
    query_keys,
    signed_by,
    upload_keys,
    upload_signatures,
)
from ._crypto_errors import (
    CrossSigningError,
    RecoveryKeyError,
    RecoveryKeyRequiredError,
    SecretStorageError,
)
from ._recovery_key import RecoveryKey, read_recovery_key, write_recovery_key
from ._session import Session
from ._ssss import SecretStorage

__all__ = ["Identity"]

log = logging.getLogger("unimsg.matrix")

_KEY_FILE = "cross_signing.json"


class Identity:
    """What start-up established; read by the adapter and its encryption state."""

    def __init__(self, session: Session, config: MatrixConfig) -> None:
        self._session = session
        self._config = config
        self._storage = SecretStorage(session)
        self._path = session.state.root / _KEY_FILE
        self.keys: CrossSigningKeys | None = None
        self.backup_key: BackupKey | None = None
        self.backup: KeyBackup | None = None
        self.device_signed = False
        #: A recovery key made by this start, until the application takes it.
        self.new_recovery_key: RecoveryKey | None = None
        self.restored: tuple[int, int] | None = None

    @property
    def user_id(self) -> str:
        return self._session.user_id

    # -- local copy of the private keys ---------------------------------------------------------

    def _load_local(self) -> None:
        try:
            data = json.loads(self._path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            raise CrossSigningError(f"the key file {self._path} is unreadable ({exc})") from None
        try:
            self.keys = CrossSigningKeys(
                *(SigningKey.from_b64(data[attr]) for attr, _ in CrossSigningKeys.SECRETS)
            )
            if isinstance(data.get("backup"), str):
                self.backup_key = BackupKey.from_b64(data["backup"])
        except (KeyError, TypeError, ValueError):
            raise CrossSigningError(f"the key file {self._path} is damaged") from None

    def _save_local(self) -> None:
        assert self.keys is not None
        data: dict[str, Any] = {
            attr: getattr(self.keys, attr).seed_b64 for attr, _ in CrossSigningKeys.SECRETS
        }
        if self.backup_key is not None:
            data["backup"] = self.backup_key.secret_b64
        fd, tmp = tempfile.mkstemp(dir=self._path.parent, prefix=".keys-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(data, out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self._path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    # -- the recovery key -------------------------------------------------------------------------

    def _recovery_path(self) -> Path:
        path = self._config.recovery_key_path
        return path if path is not None else self._session.state.root / "recovery-key.txt"

    def _given_recovery_key(self) -> RecoveryKey | None:
        if self._config.recovery_key is not None:
            return read_recovery_key(self._config.recovery_key)
        path = self._recovery_path()
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise CrossSigningError(
                f"cannot read the recovery key file {path}: {exc.strerror}"
            ) from None
        return read_recovery_key(text)

    # -- start-up -------------------------------------------------------------------------------

    async def setup(self) -> None:
        session, user = self._session, self.user_id
        await session.maintain_keys()
        self._load_local()
        published = await query_keys(session, user)
        server_master = public_key_of(published.get("master_keys", {}).get(user))
        recovery = self._given_recovery_key()
        fresh_store = self.keys is None
        if self._config.reset_cross_signing:
            await self._bootstrap(recovery, reset=True)
        elif server_master is None:
            if self.keys is not None:
                # Published by an earlier start that stopped half-way: same keys, same identity.
                await upload_keys(session, self.keys, self._config.password)
            else:
                await self._bootstrap(recovery, reset=False)
        elif self.keys is None or self.keys.master.public != server_master:
            if recovery is None:
                raise RecoveryKeyRequiredError(self._missing(server_master, fresh_store))
            try:
                await self._restore_keys(recovery, published)
            except RecoveryKeyError:
                if fresh_store:
                    raise
                raise RecoveryKeyError(
                    f"{self._missing(server_master, fresh_store)}. The recovery key at hand "
                    "is an older one"
                ) from None
        published = await query_keys(session, user)
        if self.keys is None or not self.keys.matches(published, user):
            raise CrossSigningError(
                "the homeserver does not publish the cross-signing keys this account holds"
            )
        await self._sign_device(published)
        if self._config.key_backup:
            await self._setup_backup(recovery, published)

    def _missing(self, server_master: str, fresh_store: bool) -> str:
        where = (
            "this store has no copy of them"
            if fresh_store
            else "this store holds older ones: they were reset from another client"
        )
        return (
            f"{self.user_id} has cross-signing keys on the server (master key {server_master}) "
            f"but {where}. Give the account's recovery key (recovery_key_env, or the file "
            f"{self._recovery_path()}) to restore them, or set reset_cross_signing = true to "
            "replace them (other users will see an identity reset), or cross_signing = false"
        )

    async def _bootstrap(self, recovery: RecoveryKey | None, *, reset: bool) -> None:
        session, storage = self._session, self._storage
        key_id = await storage.default_key_id()
        if key_id is not None and not reset:
            if recovery is None:
                raise RecoveryKeyRequiredError(
                    f"{self.user_id} already has secret storage (key {key_id}) but no "
                    "cross-signing keys: give its recovery key (recovery_key_env) to keep "
                    "using it, or set reset_cross_signing = true to replace it"
                )
            key_id = await storage.unlock(recovery)
        else:
            key_id = None
            if recovery is None:
                recovery = RecoveryKey.generate()
                # Written before anything goes to the server: the operator never lacks it.
                write_recovery_key(self._recovery_path(), recovery, self.user_id)
                self.new_recovery_key = recovery
                log.warning(
                    "a new recovery key for %s was written to %s: keep it off this machine",
                    self.user_id,
                    self._recovery_path(),
                )
        keys = CrossSigningKeys.generate()
        # The first change on the server, and the one that may need the password: if it
        # fails, nothing else was touched (secret storage included).
        await upload_keys(session, keys, self._config.password)
        self.keys, self.backup_key = keys, None
        self._save_local()
        log.info("published cross-signing keys of %s (master %s)", self.user_id, keys.master.public)
        if key_id is None:
            key_id = await storage.create_default_key(recovery)
        for attr, name in CrossSigningKeys.SECRETS:
            await storage.put(name, getattr(keys, attr).seed_b64.encode(), key_id, recovery)
        if self._config.key_backup:
            self.backup_key = BackupKey.generate()
            self._save_local()
            await storage.put(BACKUP_SECRET, self.backup_key.secret_b64.encode(), key_id, recovery)
            await KeyBackup.create(session, self.backup_key, keys.master)

    async def _restore_keys(self, recovery: RecoveryKey, published: dict[str, Any]) -> None:
        storage, user = self._storage, self.user_id
        key_id = await storage.unlock(recovery)
        loaded: list[SigningKey] = []
        for attr, name in CrossSigningKeys.SECRETS:
            secret = await storage.get(name, key_id, recovery)
            if secret is None:
                raise SecretStorageError(f"the account's secret storage holds no {name}")
            try:
                key = SigningKey.from_b64(secret.decode("ascii"))
            except (UnicodeDecodeError, ValueError):
                raise SecretStorageError(
                    f"the secret-storage entry {name} does not hold an Ed25519 key"
                ) from None
            field = {
                "master": "master_keys",
                "self_signing": "self_signing_keys",
                "user_signing": "user_signing_keys",
            }[attr]
            expected = public_key_of(published.get(field, {}).get(user))
            if expected is not None and key.public != expected:
                raise SecretStorageError(
                    f"the {attr.replace('_', '-')} key in secret storage ({key.public}) is not "
                    f"the one the server publishes ({expected})"
                )
            loaded.append(key)
        self.keys = CrossSigningKeys(*loaded)
        self.backup_key = None
        self._save_local()
        log.info("restored the cross-signing keys of %s from secret storage", user)

    async def _sign_device(self, published: dict[str, Any]) -> None:
        session, user = self._session, self.user_id
        assert self.keys is not None
        device_id = session.device_id
        device = published.get("device_keys", {}).get(user, {}).get(device_id)
        olm = session.client.olm
        ours = olm.account.identity_keys["ed25519"] if olm is not None else None
        if (
            not isinstance(device, dict)
            or device.get("keys", {}).get(f"ed25519:{device_id}") != ours
        ):
            raise CrossSigningError(
                f"the homeserver does not publish this device's keys ({device_id}) as they are "
                "in the store: refusing to sign them"
            )
        ssk = self.keys.self_signing
        if signed_by(device, user, ssk.public, ssk.public):
            self.device_signed = True
            return
        body = {k: v for k, v in device.items() if k not in ("unsigned", "signatures")}
        signed = ssk.sign(body, user)
        await upload_signatures(session, {device_id: signed}, f"device {device_id}")
        self.device_signed = True
        log.info("signed device %s of %s with its self-signing key", device_id, user)

    def _signed_devices(self, published: dict[str, Any]) -> dict[str, Any]:
        """Our devices that carry our self-signing key's signature."""
        assert self.keys is not None
        ssk, user = self.keys.self_signing, self.user_id
        devices = published.get("device_keys", {}).get(user, {})
        return {
            device_id: device
            for device_id, device in devices.items()
            if isinstance(device, dict) and signed_by(device, user, ssk.public, ssk.public)
        }

    async def _setup_backup(self, recovery: RecoveryKey | None, published: dict[str, Any]) -> None:
        session, user = self._session, self.user_id
        assert self.keys is not None
        info = await KeyBackup.current(session)
        if info is None:
            if self.backup_key is None:
                self.backup_key = BackupKey.generate()
                self._save_local()
                if recovery is not None:
                    key_id = await self._storage.unlock(recovery)
                    await self._storage.put(
                        BACKUP_SECRET, self.backup_key.secret_b64.encode(), key_id, recovery
                    )
            await KeyBackup.create(session, self.backup_key, self.keys.master)
            info = await KeyBackup.current(session)
            if info is None:
                raise CrossSigningError("the homeserver lost the key backup it just created")
        check_trusted(info, user, self.keys.master, self._signed_devices(published))
        public = info["auth_data"].get("public_key")
        version = info.get("version")
        if not isinstance(public, str) or not isinstance(version, str):
            raise CrossSigningError("the homeserver's key backup has no public key or version")
        self.backup = KeyBackup(session, version, public)
        had_key = self.backup_key is not None and self.backup_key.public == public
        if not had_key and recovery is not None:
            key_id = await self._storage.unlock(recovery)
            secret = await self._storage.get(BACKUP_SECRET, key_id, recovery)
            if secret is not None:
                try:
                    candidate = BackupKey.from_b64(secret.decode("ascii"))
                except (UnicodeDecodeError, ValueError):
                    raise SecretStorageError(
                        f"the secret-storage entry {BACKUP_SECRET} does not hold a backup key"
                    ) from None
                if candidate.public == public:
                    self.backup_key = candidate
                    self._save_local()
                    self.restored = await self.backup.restore(candidate)
                else:
                    log.warning(
                        "the backup key in secret storage is not the key of backup version %s: "
                        "new room keys are backed up, older ones are not restored",
                        version,
                    )
        if self.backup_key is None or self.backup_key.public != public:
            log.info(
                "backing up room keys of %s to version %s without its private key: give the "
                "recovery key once to restore older room keys",
                user,
                version,
            )


_BATCH_DELAY = 0.5


async def backup_loop(session: Session, backup: KeyBackup) -> None:
    """After each sync, upload the room keys that arrived (gathered for a moment first)."""
    while backup.failed is None:
        await session.next_sync()
        await asyncio.sleep(_BATCH_DELAY)
        try:
            await backup.upload_pending()
        except UnimsgError as exc:
            log.debug("uploading room keys failed (%s); retrying after the next sync", exc)


async def final_backup(backup: KeyBackup) -> None:
    """Upload what the last moments brought (our own new sessions) before stopping."""
    try:
        with anyio.fail_after(10):
            await backup.upload_pending()
    except (UnimsgError, TimeoutError) as exc:
        log.debug("the last room-key upload failed: %s", type(exc).__name__)
