"""The verification setting: none, a list of users, or an async callback."""

from __future__ import annotations

from pathlib import Path

import pytest
from unimsg_matrix import MatrixConfig, SasVerification

from unimsg import ConfigError, UsageError


def test_verification_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_PASSWORD", "x")
    base = {"homeserver": "http://127.0.0.1:9", "user_id": "@bot:example.org"}
    table = {**base, "password_env": "BOT_PASSWORD", "store_path": str(tmp_path)}
    table["verification"] = ["@a:x.org"]
    assert MatrixConfig.from_mapping(table).verification == frozenset({"@a:x.org"})
    assert MatrixConfig.from_mapping({**table, "verification": "none"}).verification == "none"
    with pytest.raises((UsageError, ConfigError)):
        MatrixConfig.from_mapping({**table, "verification": "everyone"})
    with pytest.raises((UsageError, ConfigError)):
        MatrixConfig.from_mapping({**table, "verification": ["not a user"]})

    async def ask(sas: SasVerification) -> bool:
        return False

    settings = {**base, "password": "x", "store_path": tmp_path, "verification": ask}
    assert MatrixConfig(**settings).verification is ask  # type: ignore[arg-type]
