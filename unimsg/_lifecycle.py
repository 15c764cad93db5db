"""Closing ``async with`` objects that own a task group, with errors unwrapped.

A task group reports failures as exception groups; applications should see
the error itself, so that ``except ConnectError`` works around
``async with client:`` (and bots and relays) as it would around a call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from types import TracebackType

__all__ = ["Background", "close_stack", "leaves", "unwrap"]


def leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    found: list[BaseException] = []
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            found.extend(leaves(exc))
        else:
            found.append(exc)
    return found


def unwrap(group: BaseExceptionGroup[BaseException], exc: BaseException | None = None) -> bool:
    """Raise the one error inside ``group``; ``False`` when it is ``exc`` itself.

    Re-raises ``group`` when it holds several distinct errors.
    """
    found = leaves(group)
    if exc is not None and all(leaf is exc for leaf in found):
        return False
    if len(found) == 1:
        raise found[0] from None
    raise group


async def close_stack(
    stack: AsyncExitStack | None,
    exc_type: type[BaseException] | None,
    exc: BaseException | None,
    tb: TracebackType | None,
) -> bool | None:
    if stack is None:
        return None
    try:
        return await stack.__aexit__(exc_type, exc, tb)
    except BaseExceptionGroup as group:
        return unwrap(group, exc)


class Background:
    """Base of ``async with`` objects that keep a task group open until they exit.

    The client (adapters and outbox) and the bot (its reader) use it: the
    subclass's ``setup`` enters what it needs into the exit stack, the task
    group included, and starts its tasks; exit unwinds the stack and reports
    the error itself rather than an exception group.
    """

    _stack: AsyncExitStack | None = None

    async def _start_background(self, setup: Callable[[AsyncExitStack], Awaitable[None]]) -> None:
        try:
            async with AsyncExitStack() as stack:
                await setup(stack)
                self._stack = stack.pop_all()
        except BaseExceptionGroup as group:
            # A task that failed while starting fails the task group.
            unwrap(group)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        stack, self._stack = self._stack, None
        return await close_stack(stack, exc_type, exc, tb)
