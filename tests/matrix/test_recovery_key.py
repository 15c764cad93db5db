"""The recovery key's encoding, secret-storage encryption and their configuration (no server)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from unimsg_matrix import MatrixAdapter, MatrixConfig, RecoveryKeyError
from unimsg_matrix._recovery_key import RecoveryKey, read_recovery_key, write_recovery_key
from unimsg_matrix._ssss import decrypt_secret, encrypt_secret, key_description

from unimsg import UsageError

KEY = bytes(range(32))


@given(st.binary(min_size=32, max_size=32))
def test_recovery_key_round_trip(key: bytes) -> None:
    encoded = RecoveryKey(key).encoded
    # 0x8B 0x01 in front always gives "Es" first, as in every key Element shows.
    assert encoded.startswith("Es") and len(encoded.replace(" ", "")) == 48
    assert all(len(group) == 4 for group in encoded.split(" "))
    assert RecoveryKey.parse(encoded).key == key
    assert RecoveryKey.parse(encoded.replace(" ", "\n")).key == key


def test_recovery_key_is_never_shown() -> None:
    key = RecoveryKey(KEY)
    for text in (repr(key), str(key), f"{key}"):
        assert key.encoded not in text and "secure" in text


def test_mistyped_and_malformed_keys() -> None:
    good = RecoveryKey(KEY).encoded.replace(" ", "")
    typo = good[:10] + ("2" if good[10] != "2" else "3") + good[11:]
    with pytest.raises(RecoveryKeyError, match=r"mistyped|malformed"):
        RecoveryKey.parse(typo)
    with pytest.raises(RecoveryKeyError, match="base58"):
        RecoveryKey.parse(good[:-1] + "0")
    with pytest.raises(RecoveryKeyError, match="malformed"):
        RecoveryKey.parse(good[:-4])
    with pytest.raises(ValueError, match="malformed"):
        RecoveryKey.parse("")


def test_secret_storage_encryption() -> None:
    entry = encrypt_secret(KEY, "m.cross_signing.master", b"secret")
    assert decrypt_secret(KEY, "m.cross_signing.master", entry) == b"secret"
    # The secret's name is bound into the keys: a moved entry does not decrypt.
    assert decrypt_secret(KEY, "m.cross_signing.self_signing", entry) is None
    assert decrypt_secret(bytes(32), "m.cross_signing.master", entry) is None
    import base64

    iv = base64.b64decode(entry["iv"])
    assert len(iv) == 16 and iv[8] & 0x80 == 0
    description = key_description(KEY)
    assert description["algorithm"] == "m.secret_storage.v1.aes-hmac-sha2"
    assert set(description) == {"algorithm", "iv", "mac"}


def test_recovery_key_file(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "bot.txt"
    key = RecoveryKey(KEY)
    write_recovery_key(path, key, "@bot:example.org")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_recovery_key(path.read_text()) == key
    with pytest.raises(UsageError, match="already exists"):
        write_recovery_key(path, RecoveryKey(bytes(32)), "@bot:example.org")
    assert read_recovery_key(path.read_text()) == key


def test_recovery_key_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    encoded = RecoveryKey(KEY).encoded
    monkeypatch.setenv("BOT_RECOVERY_KEY", encoded)
    monkeypatch.setenv("BOT_PASSWORD", "p4ssword")
    adapter = MatrixAdapter.from_config(
        {
            "homeserver": "https://matrix.example.org",
            "user_id": "@bot:example.org",
            "password_env": "BOT_PASSWORD",
            "store_path": "store",
            "recovery_key_env": "BOT_RECOVERY_KEY",
            "recovery_key_path": "secrets/recovery.txt",
        },
        base_dir=tmp_path,
    )
    config = adapter.config
    assert config.recovery_key == encoded and config.cross_signing and config.key_backup
    assert config.recovery_key_path == tmp_path / "secrets" / "recovery.txt"
    assert encoded not in repr(config) and "[secure]" in repr(config)
    with pytest.raises(UsageError, match="reset_cross_signing needs cross_signing"):
        MatrixConfig(
            homeserver="https://h",
            user_id="@a:h",
            password="p",
            store_path=tmp_path,
            cross_signing=False,
            reset_cross_signing=True,
        )
    with pytest.raises(UsageError, match="recovery_key_env"):
        MatrixAdapter.from_config(
            {
                "homeserver": "https://h",
                "user_id": "@a:h",
                "password_env": "BOT_PASSWORD",
                "store_path": str(tmp_path),
                "recovery_key_env": "NOT_SET_ANYWHERE",
            }
        )
