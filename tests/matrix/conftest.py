from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from .jsclient import MakeJsClient, js_clients
from .synapse import (
    MakeUser,
    RegisteredUser,
    SynapseInstance,
    register_user,
    require_instance,
)

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Collection hooks see the whole session's items, not only this directory's.
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.synapse)


@pytest.fixture(scope="session")
def synapse() -> SynapseInstance:
    """The homeserver with rate limits lifted, for most tests."""
    return require_instance("relaxed")


@pytest.fixture(scope="session")
def synapse_stock() -> SynapseInstance:
    """The homeserver with Synapse's stock rate limits, for rate-limit tests."""
    return require_instance("stock")


@pytest.fixture
def make_matrix_user(request: pytest.FixtureRequest) -> MakeUser:
    """``await make_matrix_user(localpart=None, password=None, admin=False, instance=None)``.

    Registers a fresh user on ``instance`` (default: the relaxed server).
    """

    async def make(
        localpart: str | None = None,
        password: str | None = None,
        admin: bool = False,
        instance: SynapseInstance | None = None,
    ) -> RegisteredUser:
        # Resolved lazily so tests that only use synapse_stock do not need the relaxed server.
        instance = instance or request.getfixturevalue("synapse")
        return await register_user(instance, localpart, password, admin)

    return make


@pytest_asyncio.fixture
async def matrix_user(make_matrix_user: MakeUser) -> RegisteredUser:
    return await make_matrix_user()


@pytest_asyncio.fixture
async def make_js_client(tmp_path: Path) -> AsyncIterator[MakeJsClient]:
    """``await make_js_client(user)``: a matrix-js-sdk device of ``user`` (Rust crypto).

    Each is its own Node process, stopped after the test; its log is in tmp_path.
    """
    async with js_clients(tmp_path) as make:
        yield make
