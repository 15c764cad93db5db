"""pytest fixtures for applications built on unimsg (registered via ``pytest11``).

``fake_network`` is a fresh `FakeNetwork` per test; ``fake_client`` makes an
unopened `Client` for an account on it::

    async def test_greets(fake_client):
        bot = fake_client("signal:+15550000001")
        async with bot:
            ...

The fixtures are synchronous, so they work with pytest-asyncio, anyio's
plugin or trio's alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from ._address import Address
from ._client import Client
from ._router import Route
from .testing import FakeNetwork

__all__ = ["fake_client", "fake_network"]


@pytest.fixture
def fake_network() -> FakeNetwork:
    """A fresh in-memory network with no accounts."""
    return FakeNetwork()


@pytest.fixture
def fake_client(fake_network: FakeNetwork) -> Callable[..., Client]:
    """A factory: ``fake_client(*accounts, routes=())`` -> an unopened Client."""

    def make(*accounts: Address | str, routes: Sequence[Route] = (), **options: object) -> Client:
        adapters = []
        for account in accounts:
            address = Address.parse(account)
            adapters.append(fake_network.adapter(address.network, address))
        return Client(*adapters, routes=routes, **options)  # type: ignore[arg-type]

    return make
