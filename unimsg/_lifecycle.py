"""Closing ``async with`` objects that own a task group, with errors unwrapped.

A task group reports failures as exception groups; applications should see
the error itself, so that ``except ConnectError`` works around
``async with client:`` (and bots and relays) as it would around a call.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from contextlib import AbstractContextManager, AsyncExitStack
from types import TracebackType
from typing import Any

import anyio

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
    """Base of ``async with`` objects that run one loop in their own task group."""

    _stack: AsyncExitStack | None = None

    async def _start_background(
        self,
        run: Callable[..., Coroutine[Any, Any, Any]],
        stop: Callable[[], None],
        *,
        holding: AbstractContextManager[Any] | None = None,
    ) -> None:
        """Start ``run`` (it calls ``task_status.started()``); ``stop`` ends it on exit."""
        async with AsyncExitStack() as stack:
            if holding is not None:
                stack.enter_context(holding)
            tg = await stack.enter_async_context(anyio.create_task_group())
            stack.callback(stop)
            await tg.start(run)
            self._stack = stack.pop_all()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        stack, self._stack = self._stack, None
        return await close_stack(stack, exc_type, exc, tb)
