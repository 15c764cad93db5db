"""The one error inside a task group's exception group, raised as itself.

anyio wraps whatever fails inside ``async with create_task_group()`` in an
exception group, even a lone error of the host task. Retry loops match
errors by type, so every task group here is left through `unwrapped`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import anyio

__all__ = ["leaves", "unwrapped"]


def leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    """The errors in ``group`` and its subgroups, cancellations left out."""
    cancelled = anyio.get_cancelled_exc_class()
    found: list[BaseException] = []
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            found.extend(leaves(exc))
        elif not isinstance(exc, cancelled):
            found.append(exc)
    return found


@contextmanager
def unwrapped() -> Iterator[None]:
    """Re-raise a group holding one error as that error (groups of several stay)."""
    try:
        yield
    except BaseExceptionGroup as group:
        errors = leaves(group)
        if len(errors) == 1:
            raise errors[0] from None
        raise
