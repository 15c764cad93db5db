"""Testing with unimsg: the fake network and the adapter conformance suite.

``FakeNetwork`` hosts fake accounts on networks named like the real ones;
``FakeNetwork.adapter`` gives a `FakeAdapter` to pass to ``unimsg.Client``.
``AdapterConformance`` checks that an adapter behaves like the others.
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
