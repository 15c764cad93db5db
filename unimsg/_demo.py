"""``unimsg demo``: runs examples/hybrid_ops_bot.py, the hybrid ops bot, on the fake network.

The example is the one source: a wheel carries it as ``unimsg/_ops_bot.py``
(see pyproject.toml); a checkout loads it from examples/.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import ModuleType
from typing import cast

__all__ = ["ops_bot_example", "run_demo"]

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "hybrid_ops_bot.py"


def ops_bot_example() -> ModuleType:
    try:
        return importlib.import_module("unimsg._ops_bot")
    except ModuleNotFoundError:
        pass
    spec = importlib.util.spec_from_file_location("unimsg_hybrid_ops_bot", EXAMPLE)
    if spec is None or spec.loader is None or not EXAMPLE.exists():
        from ._exceptions import UsageError

        raise UsageError(f"the demo program is missing: {EXAMPLE}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def run_demo(say: Callable[[str], None] = print) -> None:
    demo = cast(Callable[[Callable[[str], None]], Awaitable[None]], ops_bot_example().run_demo)
    await demo(say)
