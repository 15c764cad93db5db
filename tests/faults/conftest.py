"""Fixtures for the fault-injection suite: the three Synapse profiles, users, figures.

The ``faults`` profile is the only server these tests kill and restart; the
relaxed and stock servers may be shared with other test runs and are only used.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Protocol

import pytest

from tests.matrix.synapse import (
    MakeUser,
    RegisteredUser,
    SynapseInstance,
    register_user,
    require_instance,
)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
FIGURES = ROOT / ".cache" / "reliability" / "figures.jsonl"
_SERVERS = {"synapse", "synapse_stock", "faults"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Only the Matrix scenarios need a homeserver; `-m "not synapse"` keeps the rest.
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if item.path.is_relative_to(HERE) and fixtures & _SERVERS:
            item.add_marker(pytest.mark.synapse)


@pytest.fixture(scope="session")
def synapse() -> SynapseInstance:
    """The relaxed homeserver (no rate limits); never killed here."""
    return require_instance("relaxed")


@pytest.fixture(scope="session")
def synapse_stock() -> SynapseInstance:
    """The homeserver with Synapse's stock rate limits; never killed here."""
    return require_instance("stock")


@pytest.fixture
def faults() -> SynapseInstance:
    """The ``faults`` homeserver, which a test may SIGKILL and restart (keeping its data).

    Function-scoped: the previous test may have restarted it (new pid).
    """
    return require_instance("faults")


@pytest.fixture
def make_matrix_user() -> MakeUser:
    """``await make_matrix_user(instance)``: a fresh user (with its own device) on ``instance``."""

    async def make(
        instance: SynapseInstance,
        localpart: str | None = None,
        password: str | None = None,
        admin: bool = False,
    ) -> RegisteredUser:
        return await register_user(instance, localpart, password, admin)

    return make


class Figures(Protocol):
    def __call__(
        self, scenario: str, *, sent: int, delivered: int, duplicated: int, lost: int, **extra: Any
    ) -> dict[str, Any]: ...


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Figures:
    """Record one scenario's figures: a JSON line in .cache/reliability/figures.jsonl, printed.

    ``delivered`` counts distinct messages the receiving application handled,
    ``duplicated`` extra handlings of a message, ``lost`` messages never handled.
    """

    def record(
        scenario: str, *, sent: int, delivered: int, duplicated: int, lost: int, **extra: Any
    ) -> dict[str, Any]:
        row = {
            "scenario": scenario,
            "test": request.node.nodeid,
            "sent": sent,
            "delivered": delivered,
            "duplicated": duplicated,
            "lost": lost,
            **extra,
            "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        FIGURES.parent.mkdir(parents=True, exist_ok=True)
        with FIGURES.open("a") as f:
            f.write(json.dumps(row) + "\n")
        print(f"\nfigures {json.dumps(row)}")
        return row

    return record
