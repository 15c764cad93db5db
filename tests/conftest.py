"""The PostgreSQL server shared by the tests that need one (scripts/postgres.py).

A server started by ``.ci/run`` (instance ``test``) is used as it is;
otherwise the session starts its own and stops it at the end. Without server
binaries the PostgreSQL tests skip, except in CI, where they fail.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _script() -> Any:
    spec = importlib.util.spec_from_file_location("_pg_script", ROOT / "scripts" / "postgres.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("_pg_script", module)
    spec.loader.exec_module(module)
    return module


class PostgresServer:
    def __init__(self, info: dict[str, Any]) -> None:
        self.url: str = info["url"]
        self.port: int = info["port"]
        self.password = Path(info["password_file"]).read_text().strip()

    def schema_url(self, schema: str) -> str:
        return f"{self.url}?options=-csearch_path%3D{schema}"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    script = _script()
    info = script.read_instance("test")
    own: str | None = None
    if info is None or not script._running(info):
        if script.bindir() is None and os.geteuid() != 0:
            message = "no PostgreSQL server binaries: run python3 scripts/postgres.py install"
            if os.environ.get("CI") == "true":
                pytest.fail(message)
            pytest.skip(message)
        own = f"pytest-{os.getpid()}"
        try:
            info = script.start(own)
        except Exception as exc:
            pytest.fail(f"cannot start PostgreSQL: {exc}")
    try:
        yield PostgresServer(info)
    finally:
        if own is not None:
            script.stop(own)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A URL of a fresh, empty schema; ``PGPASSWORD`` holds the password meanwhile."""
    import psycopg

    schema = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(postgres_server.url, password=postgres_server.password) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    old = os.environ.get("PGPASSWORD")
    os.environ["PGPASSWORD"] = postgres_server.password
    try:
        yield postgres_server.schema_url(schema)
    finally:
        if old is None:
            os.environ.pop("PGPASSWORD", None)
        else:
            os.environ["PGPASSWORD"] = old
        with psycopg.connect(postgres_server.url, password=postgres_server.password) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
