from __future__ import annotations

import os
from pathlib import Path

import pytest
import pytest_asyncio

from .synapse import (
    MakeUser,
    RegisteredUser,
    SynapseInstance,
    is_up,
    load_instance,
    register_user,
)

HERE = Path(__file__).resolve().parent
START_HINT = "python3 scripts/synapse.py install && python3 scripts/synapse.py start"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Collection hooks see the whole session's items, not only this directory's.
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.synapse)


def _require(profile: str) -> SynapseInstance:
    hint = START_HINT if profile == "relaxed" else f"{START_HINT} --profile {profile}"
    instance = load_instance(profile)
    if instance is None:
        problem = f"no {profile!r} instance recorded under .cache/synapse/{profile}/"
    elif not is_up(instance):
        problem = f"the {profile!r} instance at {instance.url} does not answer"
    else:
        return instance
    if os.environ.get("CI"):
        # A skipped Matrix suite in CI would pass while testing nothing.
        pytest.fail(f"Synapse is required in CI: {problem}; run `{hint}` first", pytrace=False)
    pytest.skip(f"Synapse is not running: start it with `{hint}`")


@pytest.fixture(scope="session")
def synapse() -> SynapseInstance:
    """The homeserver with rate limits lifted, for most tests."""
    return _require("relaxed")


@pytest.fixture(scope="session")
def synapse_stock() -> SynapseInstance:
    """The homeserver with Synapse's stock rate limits, for rate-limit tests."""
    return _require("stock")


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
