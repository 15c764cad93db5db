"""What a store hands back about queued sends and leases: built by store calls only.

They live apart from the `Store` protocol so that a client that never
queues a send or takes a lease does not build their classes at import.
"""

from __future__ import annotations

import attrs

__all__ = ["LeaseInfo", "OutboxEntry"]


@attrs.frozen(kw_only=True)
class OutboxEntry:
    """A queued send: its idempotency ``key``, its ordering ``lane``, its encoded ``payload``."""

    key: str
    lane: str
    payload: str
    #: Claimed before by a worker that never finished it: its send may have gone out.
    taken_over: bool = False


@attrs.frozen(kw_only=True)
class LeaseInfo:
    """Who holds a live lease: its ``holder``, for how long (``age``) and how much is left."""

    name: str
    holder: str
    #: Seconds since this holder took it.
    age: float
    #: Seconds until it expires unless renewed.
    left: float
