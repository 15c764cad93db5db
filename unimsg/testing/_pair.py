"""The two accounts a conformance check works with (importable without pytest)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import attrs

from .._adapter import Adapter
from .._address import Address

__all__ = ["ConformancePair"]


@attrs.frozen(kw_only=True)
class ConformancePair:
    """Two fresh accounts on one network, and what the network lets a test do to them.

    ``first`` (the adapter under test) writes to ``second`` (its peer) at
    ``second.account``; ``unknown_user`` is an address of that network with no
    account behind it. Each hook left out skips the checks that need it:

    * ``reopen(adapter)``: a new adapter for the same account and the same
      persisted state, as a restarted process would build it.
    * ``inject_rate_limit()``: ``first``'s next send is rate-limited.
    * ``change_identity(adapter)``: that account gets a new identity (a
      reinstall, a new device), as its peers see it.
    * ``inject_garbled(adapter, conversation)``: the network hands ``adapter``
      an event it cannot make sense of, in ``conversation``.
    * ``secrets``: strings (passwords, tokens) that must never show in a
      repr, an error or a log line.
    """

    first: Adapter
    second: Adapter
    unknown_user: str
    #: Seconds to wait for an event to arrive.
    timeout: float = 10.0
    reopen: Callable[[Adapter], Adapter] | None = None
    inject_rate_limit: Callable[[], Awaitable[None]] | None = None
    change_identity: Callable[[Adapter], Awaitable[None]] | None = None
    inject_garbled: Callable[[Adapter, Address], Awaitable[None]] | None = None
    secrets: Sequence[str] = attrs.field(default=(), repr=False)
