"""Idempotency keys: unique per logical send, cheap enough for every send.

A key is this process's random prefix and a counter. It must never repeat
for one account (Matrix takes it as the transaction id, and a repeated one
would make the homeserver answer a new message with an old receipt), also
across processes sharing a device and across ``fork``: the prefix is 96
random bits, drawn again in every forked child.
"""

from __future__ import annotations

import itertools
import os

__all__ = ["new_key"]


def _reset() -> None:
    global _prefix, _counter
    _prefix = os.urandom(12).hex()
    _counter = itertools.count()


_prefix = ""
_counter = itertools.count()
_reset()
os.register_at_fork(after_in_child=_reset)


def new_key() -> str:
    """A fresh key: 24 hex digits of process prefix, then the counter in hex."""
    return f"{_prefix}{next(_counter):x}"
