"""The store and the reader lease chosen by the configuration file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import unimsg
from unimsg._config import ConfigError, parse_config

FAKE = [{"type": "fake", "account": "signal:+15550000001"}]


def config(**client: Any) -> Any:
    return parse_config({"adapters": FAKE, "client": client}, base_dir=Path("/srv/app"))


def test_a_file_path_is_an_sqlite_store_and_a_url_a_postgresql_one() -> None:
    assert config(store="state.db").store == Path("/srv/app/state.db")
    chosen = config(store="postgresql://bot@db.internal/unimsg", store_password_env="PW")
    assert isinstance(chosen.store, unimsg.PostgresStore)
    assert chosen.store.password_env == "PW"
    assert repr(chosen.store) == "PostgresStore('postgresql://bot@db.internal/unimsg')"
    client = chosen.client()
    assert client.store is chosen.store
    assert config().store is None


def test_reader_lease_reaches_the_client() -> None:
    chosen = config(store="postgresql://bot@db.internal/unimsg", reader_lease=10)
    assert chosen.reader_lease == 10.0
    assert chosen.client().health()["signal:+15550000001"].role == "standby"
    assert config().client().health()["signal:+15550000001"].role == "single"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"store": "postgresql://bot:s3cret@db/unimsg"}, "holds a password"),
        ({"store": "state.db", "store_password_env": "PW"}, "goes with a postgresql"),
        ({"store": 5}, r"client\.store: expected a string"),
        ({"reader_lease": -1}, "positive number"),
    ],
)
def test_bad_store_settings_are_config_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        config(**options)
    assert "s3cret" not in str(caught.value)
