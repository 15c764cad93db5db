"""Adapters found by name through the ``unimsg.adapters`` entry-point group.

Adapters are imported on first use, so ``import unimsg`` never pulls in a
network library. When one cannot be imported, the error names the
distributions its extra declares that are missing, and the command that
installs them; `adapter_status` says the same for every adapter at once.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import attrs

from ._exceptions import AdapterNotFoundError

__all__ = ["AdapterStatus", "adapter_class", "adapter_names", "adapter_status"]

#: The extra of the ``unimsg`` distribution that brings each bundled adapter's dependencies.
_EXTRAS = {"matrix": "matrix", "signal": "signal"}
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?")
_EXTRA_MARKER = re.compile(r"""extra\s*==\s*['"]([^'"]+)['"]""")


@attrs.frozen(kw_only=True)
class AdapterStatus:
    """Whether an installed adapter can be used, and what is missing if not."""

    name: str
    usable: bool
    #: Distributions its extra declares that are not installed.
    missing: tuple[str, ...] = ()
    #: Why it cannot be used, in one line (empty when usable).
    problem: str = ""


def adapter_names() -> list[str]:
    """Names of the installed adapters."""
    # importlib.metadata costs ~25 ms to import: only pay it when an adapter is looked up.
    from importlib.metadata import entry_points

    return sorted(ep.name for ep in entry_points(group="unimsg.adapters"))


def _requirements(distribution: str, extra: str | None) -> list[tuple[str, tuple[str, ...]]]:
    """(name, extras) of what ``distribution[extra]`` declares beyond the base install."""
    from importlib.metadata import PackageNotFoundError, requires

    try:
        declared = requires(distribution) or []
    except PackageNotFoundError:
        return []
    found = []
    for line in declared:
        spec, _, marker = line.partition(";")
        wanted = _EXTRA_MARKER.search(marker)
        if (wanted.group(1) if wanted else None) != extra:
            continue
        match = _NAME.match(spec)
        if match:
            extras = tuple(e.strip() for e in (match.group(2) or "").split(",") if e.strip())
            found.append((match.group(1), extras))
    return found


def _installed(name: str) -> bool:
    from importlib.metadata import PackageNotFoundError, version

    try:
        version(name)
    except PackageNotFoundError:
        return False
    return True


def missing_distributions(name: str) -> tuple[str, ...]:
    """What the extra of adapter ``name`` declares (one level of nested extras) and lacks."""
    extra = _EXTRAS.get(name)
    if extra is None:
        return ()
    missing: list[str] = []
    for dist, nested in _requirements("unimsg", extra):
        if not _installed(dist):
            missing.append(dist)
            continue
        for sub in nested:
            missing.extend(d for d, _ in _requirements(dist, sub) if not _installed(d))
    return tuple(dict.fromkeys(missing))


def _install_hint(name: str) -> str:
    extra = _EXTRAS.get(name)
    return f"pip install 'unimsg[{extra}]'" if extra else f"install the {name!r} adapter's package"


def _import_problem(name: str, exc: ImportError) -> AdapterNotFoundError:
    missing = missing_distributions(name)
    if missing:
        return AdapterNotFoundError(
            f"the {name!r} adapter needs {', '.join(missing)} (not installed): "
            f"{_install_hint(name)}"
        )
    module = exc.name or str(exc)
    declared = f"unimsg[{_EXTRAS[name]}]" if name in _EXTRAS else "its package"
    return AdapterNotFoundError(
        f"the {name!r} adapter cannot be imported: module {module!r} is missing although "
        f"{declared} is installed (a packaging bug; install {module!r} by hand meanwhile)"
    )


@cache
def adapter_class(name: str) -> Any:
    """The adapter class registered as ``name``, imported now."""
    from importlib.metadata import entry_points

    found = entry_points(group="unimsg.adapters", name=name)
    if not found:
        known = ", ".join(adapter_names()) or "none"
        hint = f"; install it with: {_install_hint(name)}" if name in _EXTRAS else ""
        raise AdapterNotFoundError(f"no adapter named {name!r} (installed: {known}){hint}")
    (entry,) = tuple(found)[:1]
    try:
        return entry.load()
    except ImportError as exc:
        raise _import_problem(name, exc) from exc


def adapter_status() -> list[AdapterStatus]:
    """Every installed adapter, imported to tell truthfully whether it works."""
    statuses = []
    for name in adapter_names():
        try:
            adapter_class(name)
        except AdapterNotFoundError as exc:
            statuses.append(
                AdapterStatus(
                    name=name, usable=False, missing=missing_distributions(name), problem=str(exc)
                )
            )
        else:
            statuses.append(AdapterStatus(name=name, usable=True))
    return statuses
