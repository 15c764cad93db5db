"""The adapter conformance kit: a pytest base class any adapter's tests subclass.

Subclass `AdapterConformance` in a test module and give it a
``conformance_pair`` fixture yielding a `ConformancePair` (fresh for each
check): the adapter under test and a peer it can write to::

    class TestMyAdapter(AdapterConformance):
        @pytest.fixture
        async def conformance_pair(self):
            yield ConformancePair(first=MyAdapter(...), second=MyAdapter(...), ...)

Every check runs under anyio (override ``anyio_backend`` to choose the
backends). A check of a capability the adapter does not implement, or that
needs a hook the pair leaves out, is skipped with the reason: never passed.
"""

from __future__ import annotations

import pytest

from ._checks_conversations import ConversationChecks
from ._checks_messages import MessageChecks
from ._checks_reliability import ReliabilityChecks
from ._pair import ConformancePair

__all__ = ["AdapterConformance", "ConformancePair"]


class AdapterConformance(MessageChecks, ConversationChecks, ReliabilityChecks):
    """The behaviour every adapter shares; see the module docstring."""

    pytestmark = pytest.mark.anyio

    @pytest.fixture
    def conformance_pair(self) -> ConformancePair:
        pytest.fail(
            f"{type(self).__name__} must define a conformance_pair fixture (see AdapterConformance)"
        )
