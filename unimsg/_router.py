"""Routing as data: which adapter carries a message to which identity.

Routes are tried in order and the first that fits wins. A route fits a target
identity when its ``match`` and ``pattern`` accept the identity and its ``via``
names an adapter of the identity's network. A ``Contact`` has several
identities; each route is tried against each of them in the contact's order.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from typing import Literal

import attrs

from ._adapter import Adapter
from ._address import Address
from ._exceptions import NoRouteError
from ._types import addresses

__all__ = ["Contact", "Route", "adapter_name", "plan_routes"]


@attrs.frozen
class Contact:
    """A person or team known by several identities, e.g. a Signal number and a Matrix id."""

    name: str
    identities: tuple[Address, ...] = attrs.field(converter=addresses)

    @classmethod
    def of(cls, name: str, *identities: Address | str) -> Contact:
        return cls(name, identities)

    def __str__(self) -> str:
        return f"{self.name} ({', '.join(map(str, self.identities))})"


@attrs.frozen(kw_only=True)
class Route:
    """Send to identities accepted by ``match``/``pattern`` through adapter ``via``.

    ``via`` is a network name (``"signal"``: its first adapter) or an adapter
    name (``"signal:+15551234567"``). ``match`` is ``"person"``, ``"group"`` or
    ``"any"``; ``pattern`` is a glob over the address string. With
    ``encrypted=True`` the route is skipped when the conversation is not
    end-to-end encrypted.
    """

    via: str
    match: Literal["any", "person", "group"] = "any"
    pattern: str | None = None
    encrypted: bool = False

    def accepts(self, identity: Address) -> bool:
        if self.match == "person" and not identity.is_person:
            return False
        if self.match == "group" and not identity.is_group:
            return False
        return self.pattern is None or fnmatch.fnmatchcase(str(identity), self.pattern)

    def describe(self) -> str:
        parts: list[str] = [self.match]
        if self.pattern:
            parts.append(repr(self.pattern))
        if self.encrypted:
            parts.append("encrypted")
        return f"{' '.join(parts)} -> {self.via}"


def adapter_name(adapter: Adapter) -> str:
    return f"{adapter.network}:{adapter.account.id}"


def _names(adapter: Adapter) -> tuple[str, ...]:
    return (adapter.network, adapter_name(adapter), str(adapter.account))


def plan_routes(
    target: Address | Contact,
    routes: Sequence[Route],
    adapters: Iterable[Adapter],
) -> list[tuple[Route, Adapter, Address]]:
    """Every (route, adapter, identity) that fits, best first; `NoRouteError` if none."""
    pool = list(adapters)
    identities = target.identities if isinstance(target, Contact) else (target,)
    rules = routes or [Route(via=adapter_name(a)) for a in pool]
    found: list[tuple[Route, Adapter, Address]] = []
    for route in rules:
        adapter = next((a for a in pool if route.via in _names(a)), None)
        if adapter is None:
            continue
        for identity in identities:
            if identity.network == adapter.network and route.accepts(identity):
                found.append((route, adapter, identity))
    if not found:
        raise NoRouteError(target, [r.describe() for r in rules])
    return found
