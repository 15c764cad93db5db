"""A small key/value place for one adapter inside the client's store.

An adapter that keeps a resume position (Matrix's sync token) asks for one
by implementing `SupportsSharedState`; the client then hands it an
`AdapterState` before ``run`` starts. Keeping the position next to the
client's acknowledgements means every process sharing the store (a standby
on another host) resumes where acknowledgements stopped.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ._exceptions import InvalidArgumentError
from ._store import Store

__all__ = ["AdapterState", "StoreAdapterState"]


@runtime_checkable
class AdapterState(Protocol):
    """Named text values private to one adapter (one account)."""

    async def get(self, name: str) -> str | None: ...

    async def put(self, name: str, value: str | None) -> None:
        """Set ``name``; ``None`` removes it."""
        ...


class StoreAdapterState:
    """`AdapterState` kept in a `Store`'s named values under ``adapter:<scope>:``."""

    def __init__(self, store: Store, scope: str) -> None:
        if not scope:
            raise InvalidArgumentError("an adapter state needs a scope (the adapter's name)")
        self._store = store
        self._prefix = f"adapter:{scope}:"

    def __repr__(self) -> str:
        return f"<StoreAdapterState {self._prefix[:-1]}>"

    async def get(self, name: str) -> str | None:
        return await self._store.get(self._prefix + name)

    async def put(self, name: str, value: str | None) -> None:
        await self._store.put(self._prefix + name, value)
