"""Testing with unimsg: the fake network and the adapter conformance kit.

``FakeNetwork`` hosts fake accounts on networks named like the real ones;
``FakeNetwork.adapter`` gives an adapter to pass to ``unimsg.Client``
(`FakeSignalAdapter`, `FakeMatrixAdapter`, or `FakeAdapter` for other names),
offering what the real adapter of that network offers.
``AdapterConformance``, a pytest base class, checks that an adapter keeps the
promises every adapter makes; it is imported on first use, so the fake
network needs no pytest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._adapter import FakeAdapter, FakeMatrixAdapter, FakeSignalAdapter
from ._network import FakeNetwork
from ._pair import ConformancePair
from ._state import Faults
from ._waiting import EventWaiter

if TYPE_CHECKING:
    from ._conformance import AdapterConformance

__all__ = [
    "AdapterConformance",
    "ConformancePair",
    "EventWaiter",
    "FakeAdapter",
    "FakeMatrixAdapter",
    "FakeNetwork",
    "FakeSignalAdapter",
    "Faults",
]


def __getattr__(name: str) -> Any:
    # The kit is a pytest class: applications using the fake network need no pytest.
    if name == "AdapterConformance":
        from ._conformance import AdapterConformance

        return AdapterConformance
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
