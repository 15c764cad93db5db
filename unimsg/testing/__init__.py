"""Testing with unimsg: the fake network and the adapter conformance suite.

``FakeNetwork`` hosts fake accounts on networks named like the real ones;
``FakeNetwork.adapter`` gives a `FakeAdapter` to pass to ``unimsg.Client``.
``AdapterConformance`` checks that an adapter behaves like the others.
"""

from ._adapter import FakeAdapter, capabilities_of
from ._conformance import AdapterConformance, ConformancePair
from ._network import FakeNetwork, Faults
from ._waiting import EventWaiter

__all__ = [
    "AdapterConformance",
    "ConformancePair",
    "EventWaiter",
    "FakeAdapter",
    "FakeNetwork",
    "Faults",
    "capabilities_of",
]
