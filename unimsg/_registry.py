"""Adapters found by name through the ``unimsg.adapters`` entry-point group.

Adapters are imported on first use, so ``import unimsg`` never pulls in a
network library, and a missing extra fails with the command that fixes it.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from ._exceptions import AdapterNotFoundError

__all__ = ["adapter_class", "adapter_names"]

_EXTRAS = {"matrix": "unimsg[matrix]", "signal": "unimsg[signal]"}


def adapter_names() -> list[str]:
    """Names of the installed adapters."""
    # importlib.metadata costs ~25 ms to import: only pay it when an adapter is looked up.
    from importlib.metadata import entry_points

    return sorted(ep.name for ep in entry_points(group="unimsg.adapters"))


@cache
def adapter_class(name: str) -> Any:
    """The adapter class registered as ``name``, imported now."""
    from importlib.metadata import entry_points

    found = entry_points(group="unimsg.adapters", name=name)
    if not found:
        known = ", ".join(adapter_names()) or "none"
        hint = f"; install it with: pip install '{_EXTRAS[name]}'" if name in _EXTRAS else ""
        raise AdapterNotFoundError(f"no adapter named {name!r} (installed: {known}){hint}")
    (entry,) = tuple(found)[:1]
    try:
        return entry.load()
    except ImportError as exc:
        extra = _EXTRAS.get(name, f"the package providing the {name!r} adapter")
        raise AdapterNotFoundError(
            f"the {name!r} adapter cannot be imported ({exc.name or exc}): "
            f"install it with: pip install '{extra}'"
        ) from exc
