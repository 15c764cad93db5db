"""FakeNetwork: an in-memory network whose accounts applications reach through fake adapters."""

from __future__ import annotations

from collections.abc import Collection

from .._address import Address
from .._capabilities import FEATURES, PROTOCOLS
from .._exceptions import InvalidAddressError, UsageError
from ._adapter import FakeAdapter, FakeMatrixAdapter, FakeSignalAdapter
from ._state import Faults, InvitePolicy, NetworkState, TrustPolicy, _Account

__all__ = ["FakeNetwork", "Faults"]

#: The fake adapter class of each network named like a real one; others get `FakeAdapter`.
_CLASSES: dict[str, type[FakeAdapter]] = {
    "signal": FakeSignalAdapter,
    "matrix": FakeMatrixAdapter,
}


class FakeNetwork(NetworkState):
    """An in-memory network hosting any number of fake accounts.

    Networks are named like the real ones, and their fake adapters offer what
    the real adapters offer, so an application written for ``signal:`` and
    ``matrix:`` addresses runs unchanged against it::

        net = FakeNetwork()
        alice = net.adapter("signal", account="+15550000001")
        bob = net.adapter("signal", account="+15550000002")
    """

    def adapter(
        self,
        network: str,
        account: Address | str,
        *,
        display_name: str | None = None,
        username: str | None = None,
        trust: TrustPolicy = "tofu",
        invites: InvitePolicy = "always",
        without: Collection[str] = (),
    ) -> FakeAdapter:
        """A fake adapter for ``account`` (registered on first use).

        ``without`` names capabilities (`unimsg.Capabilities` fields such as
        ``"reactions"`` or ``"replies"``) the adapter does not offer, to test
        how an application copes with a less capable network.
        """
        address = (
            account
            if isinstance(account, Address)
            else Address.parse(
                account
                if ":" in account and not account.startswith("@")
                else f"{network}:{account}"
            )
        )
        if address.network != network or not address.is_person:
            raise InvalidAddressError(f"{address} is not a {network} user address")
        acc = self._accounts.get(address)
        if acc is None:
            acc = self._accounts[address] = _Account(address, display_name)
        acc.trust, acc.invites = trust, invites
        if display_name is not None:
            acc.display_name = display_name
        if username is not None:
            acc.username = username
        cls = _CLASSES.get(network, FakeAdapter)
        if without:
            cls = _narrowed(cls, frozenset(without))
        return cls(self, acc)


_NARROWED: dict[tuple[type[FakeAdapter], frozenset[str]], type[FakeAdapter]] = {}


def _narrowed(cls: type[FakeAdapter], without: frozenset[str]) -> type[FakeAdapter]:
    """A subclass of ``cls`` lacking ``without``: its methods blocked, its features dropped."""
    known = _NARROWED.get((cls, without))
    if known is not None:
        return known
    unknown = sorted(without - set(PROTOCOLS) - set(FEATURES))
    if unknown:
        raise UsageError(f"no capability named {', '.join(unknown)}")
    # A method set to None is one the class does not have, for isinstance with
    # a protocol (the way ``__hash__ = None`` makes a class unhashable).
    blocked: dict[str, object] = {
        name: None
        for capability in without & set(PROTOCOLS)
        for name, value in vars(PROTOCOLS[capability][0]).items()
        if callable(value) and not name.startswith("_")
    }
    blocked["features"] = cls.features - without
    narrowed = _NARROWED[cls, without] = type(f"{cls.__name__}Without", (cls,), blocked)
    return narrowed
