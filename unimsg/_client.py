"""The client applications hold."""

from __future__ import annotations

from ._client_conversations import ConversationsMixin
from ._client_core import Target
from ._client_messages import MessagingMixin
from ._streams import EventStream

__all__ = ["Client", "EventStream", "Target"]


class Client(MessagingMixin, ConversationsMixin):
    """One application's view of all its accounts.

    ``async with Client(signal, matrix, routes=[...]) as client:`` starts
    every adapter (returning once each can send) and stops them on exit.

    ``rate_limit_budget`` bounds how long (seconds) one call waits out rate
    limits before `RateLimitedError` reaches the caller; a retried send keeps
    its idempotency key, so it is never duplicated where the network can tell.
    """
