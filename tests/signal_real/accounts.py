"""signal-cli's files for registered accounts, written offline (storage version 10).

``write_accounts`` makes ``accounts.json`` and one JSON file per account with identity keys made
by ``cryptography``; ``introduce`` records in each account's database the numbers of the
others, as a contact discovery lookup would have (the stand-in cannot answer those).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import sqlite3
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import x25519


@dataclass(frozen=True)
class OfflineAccount:
    number: str
    aci: str
    pni: str
    password: str = field(repr=False)
    #: The ACI identity public key (0x05 + X25519), base64, as the service hands it out.
    identity_key: str = ""
    registration_id: int = 0


@dataclass(frozen=True)
class RemoteUser:
    """Someone registered with the service but not served by any daemon here."""

    aci: str
    identity_key: str


def identity_keys() -> tuple[str, str]:
    key = x25519.X25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    public = b"\x05" + key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return base64.b64encode(private).decode(), base64.b64encode(public).decode()


def write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def write_accounts(config: Path, numbers: list[str]) -> list[OfflineAccount]:
    """signal-cli's files for registered primary-device accounts (storage version 10)."""
    data = config / "data"
    data.mkdir(parents=True, exist_ok=True, mode=0o700)
    index_path = data / "accounts.json"
    index: dict[str, Any] = {"accounts": [], "version": 2}
    if index_path.exists():
        index = json.loads(index_path.read_text())
    made = []
    for number in numbers:
        aci_private, aci_public = identity_keys()
        registration_id = 1 + int.from_bytes(os.urandom(2), "big") % 16000
        account = OfflineAccount(
            number=number,
            aci=str(uuid.uuid4()),
            pni=str(uuid.uuid4()),
            password=base64.b64encode(os.urandom(18)).decode(),
            identity_key=aci_public,
            registration_id=registration_id,
        )
        path = str(100000 + len(index["accounts"]))

        def account_data(
            service_id: str, registration_id: int, keys: tuple[str, str] | None = None
        ) -> dict[str, Any]:
            private, public = keys or identity_keys()
            return {
                "serviceId": service_id,
                "registrationId": registration_id,
                "identityPrivateKey": private,
                "identityPublicKey": public,
                "nextPreKeyId": 1,
                "nextSignedPreKeyId": 1,
                "activeSignedPreKeyId": -1,
                "nextKyberPreKeyId": 1,
                "activeLastResortKyberPreKeyId": -1,
            }

        storage = {
            "version": 10,
            "timestamp": int(time.time() * 1000),
            "serviceEnvironment": "LIVE",
            "registered": True,
            "number": number,
            "username": None,
            "encryptedDeviceName": None,
            "deviceId": 1,
            "isMultiDevice": False,
            "password": account.password,
            "aciAccountData": account_data(account.aci, registration_id, (aci_private, aci_public)),
            "pniAccountData": account_data(f"PNI:{account.pni}", registration_id),
            "registrationLockPin": None,
            "pinMasterKey": None,
            "storageKey": None,
            "accountEntropyPool": None,
            "mediaRootBackupKey": None,
            "profileKey": base64.b64encode(os.urandom(32)).decode(),
            "usernameLinkEntropy": None,
            "usernameLinkServerId": None,
        }
        write_private(data / path, json.dumps(storage, indent=2))
        index["accounts"].append(
            {"path": path, "environment": "LIVE", "number": number, "uuid": account.aci}
        )
        made.append(account)
    write_private(index_path, json.dumps(index, indent=2))
    return made


def introduce(config: Path, accounts: list[OfflineAccount]) -> None:
    """Let each account know the others' numbers (the daemon must have created its databases)."""
    index = json.loads((config / "data" / "accounts.json").read_text())
    paths = {row["number"]: row["path"] for row in index["accounts"]}
    for account in accounts:
        database = config / "data" / f"{paths[account.number]}.d" / "account.db"
        with contextlib.closing(sqlite3.connect(database, timeout=30)) as db, db:
            for other in accounts:
                if other.number == account.number:
                    continue
                db.execute(
                    "INSERT INTO recipient (number, aci) VALUES (?, ?) "
                    "ON CONFLICT(aci) DO UPDATE SET number = excluded.number",
                    (other.number, other.aci),
                )
