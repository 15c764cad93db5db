"""Settings tables (TOML, JSON, dicts) into attrs classes, strictly, with every problem listed.

cattrs maps the table onto the class; the hooks here make it strict where TOML
users need it (a boolean is a boolean, ``"30s"`` is not an integer, a string
is not a list), and `settings_from_table` turns cattrs' error tree into one
`ConfigError` whose problems name the key path and suggest the nearest valid
name for a typo. Secrets never sit in a table: ``password_env = "VAR"`` names
the environment variable that holds ``password``, for every adapter alike.
"""

from __future__ import annotations

import difflib
import os
import types
import typing
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

import attrs
import cattrs
from cattrs.errors import (
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
)
from cattrs.gen import make_dict_structure_fn

from ._address import Address
from ._exceptions import ConfigError, UsageError

__all__ = [
    "did_you_mean",
    "settings_from_keywords",
    "settings_from_table",
    "structure",
    "unknown_key",
]

T = TypeVar("T")

_KINDS: dict[type, str] = {
    bool: "a boolean (true or false)",
    int: "an integer",
    float: "a number",
    str: "a string",
}


def _show(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _strict(kind: type) -> Callable[[Any, type], Any]:
    def hook(value: Any, _: type) -> Any:
        ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if not ok:
            raise ConfigError(f"expected {_KINDS[kind]}, got {_show(value)}")
        return value

    return hook


def _literal(value: Any, kind: Any) -> Any:
    allowed = typing.get_args(kind)
    if value not in allowed or isinstance(value, bool) != isinstance(allowed[0], bool):
        choices = ", ".join(repr(a) for a in allowed)
        raise ConfigError(f"must be one of {choices}, not {_show(value)}")
    return value


def _sequence_hook(kind: Any, converter: cattrs.Converter) -> Callable[[Any, Any], Any]:
    origin = typing.get_origin(kind)
    item = typing.get_args(kind)[0] if typing.get_args(kind) else Any

    def hook(value: Any, _: Any) -> Any:
        if not isinstance(value, list | tuple | set | frozenset):
            raise ConfigError(f"expected a list, got {_show(value)}")
        items, problems = [], []
        for index, element in enumerate(value):
            try:
                items.append(converter.structure(element, item))
            except Exception as exc:
                problems.extend(_problems(exc, f"[{index}]", {}))
        if problems:
            raise ConfigError(problems)
        return origin(items)

    return hook


def _describe(kind: Any) -> str:
    if typing.get_origin(kind) is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(kind))
    if typing.get_origin(kind) in (list, tuple, frozenset, set):
        return "a list"
    return _KINDS.get(kind, getattr(kind, "__name__", str(kind)))


def _is_union(kind: Any) -> bool:
    return isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union


def _union_hook(kind: Any, converter: cattrs.Converter) -> Callable[[Any, Any], Any]:
    """Each arm in turn; ``None`` only for an optional field (TOML has no null)."""
    arms = [a for a in typing.get_args(kind) if a is not type(None)]

    def hook(value: Any, _: Any) -> Any:
        if value is None and len(arms) < len(typing.get_args(kind)):
            return None
        for arm in arms:
            try:
                return converter.structure(value, arm)
            except Exception:  # noqa: S112 - the next arm may fit; all failing is reported below
                continue
        if len(arms) == 1:
            return converter.structure(value, arms[0])
        wanted = " or ".join(_describe(a) for a in arms)
        raise ConfigError(f"expected {wanted}, got {_show(value)}")

    return hook


def _attrs_hook(kind: Any, converter: cattrs.Converter) -> Callable[[Any, Any], Any]:
    base = make_dict_structure_fn(kind, converter, _cattrs_forbid_extra_keys=True)

    def hook(value: Any, _: Any) -> Any:
        if isinstance(value, kind):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"expected a table, got {_show(value)}")
        return base(value, kind)

    return hook


def _path(value: Any, _: type) -> Path:
    if not isinstance(value, str | Path):
        raise ConfigError(f"expected a path string, got {_show(value)}")
    return Path(value).expanduser()


def _address(value: Any, _: type) -> Address:
    if isinstance(value, Address):
        return value
    if not isinstance(value, str):
        raise ConfigError(f"expected an address string, got {_show(value)}")
    return Address.parse(value)


def _make_converter() -> cattrs.Converter:
    converter = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
    for kind in _KINDS:
        converter.register_structure_hook(kind, _strict(kind))
    converter.register_structure_hook(Path, _path)
    converter.register_structure_hook(Address, _address)
    converter.register_structure_hook_func(_is_literal, _literal)
    # A string is iterable: without this, peers = "signal:+1..." would be read letter by letter.
    factories: list[tuple[Callable[[Any], bool], Any]] = [
        (_is_sequence, _sequence_hook),
        (_is_union, _union_hook),
        (attrs.has, _attrs_hook),
    ]
    for predicate, factory in factories:
        converter.register_structure_hook_factory(predicate, factory)
    return converter


def _is_literal(kind: Any) -> bool:
    return typing.get_origin(kind) is Literal


def _is_sequence(kind: Any) -> bool:
    return typing.get_origin(kind) in (list, tuple, frozenset, set)


_CONVERTER = _make_converter()


def did_you_mean(name: str, choices: Collection[str]) -> str:
    """`` (did you mean 'x'?)`` when ``name`` is close to one of ``choices``."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def unknown_key(name: str, choices: Collection[str], what: str = "key") -> str:
    return f"unknown {what}{did_you_mean(name, choices)}"


def _join(path: str, part: str) -> str:
    if not path:
        return part.lstrip(".")
    return f"{path}{part}"


def _problems(
    exc: BaseException, path: str, allowed: Mapping[str, Collection[str]]
) -> list[tuple[str, str]]:
    """cattrs' error tree as (key path, message) pairs."""
    if isinstance(exc, ForbiddenExtraKeysError):
        names = allowed.get(path)
        if names is None:
            names = [f.name for f in attrs.fields(exc.cl)] if attrs.has(exc.cl) else []
        return [
            (_join(path, f".{key}"), unknown_key(key, names)) for key in sorted(exc.extra_fields)
        ]
    if isinstance(exc, ClassValidationError | IterableValidationError):
        found: list[tuple[str, str]] = []
        for inner in exc.exceptions:
            sub = path
            for note in getattr(inner, "__notes__", []):
                if isinstance(note, cattrs.AttributeValidationNote):
                    sub = _join(path, f".{note.name}")
                elif isinstance(note, cattrs.IterableValidationNote):
                    sub = _join(path, f"[{note.index}]")
            found.extend(_problems(inner, sub, allowed))
        return found
    if isinstance(exc, ConfigError):
        return list(exc.within(path).problems)
    if isinstance(exc, KeyError):
        return [(path, "missing (required)")]
    if isinstance(exc, UsageError | TypeError | ValueError):
        return [(path, str(exc))]
    raise exc


def structure(
    data: Any, cls: type[T], *, allowed: Mapping[str, Collection[str]] | None = None
) -> T:
    """``data`` as a ``cls``, strictly; `ConfigError` listing every problem otherwise.

    ``allowed`` maps a key path to the names offered as suggestions for an
    unknown key there (the class's own field names by default).
    """
    try:
        return _CONVERTER.structure(data, cls)
    except (ClassValidationError, IterableValidationError, ForbiddenExtraKeysError) as exc:
        raise ConfigError(_problems(exc, "", allowed or {})) from None
    except ConfigError:
        raise
    except (UsageError, TypeError, ValueError) as exc:
        # Raised by the class itself (its converters or __attrs_post_init__).
        raise ConfigError([("", str(exc))]) from None


def settings_from_table(
    cls: type[T],
    table: Mapping[str, Any],
    *,
    secrets: Collection[str] = (),
    ignore: Collection[str] = ("type",),
    base_dir: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> T:
    """An adapter's settings class from its ``[[adapters]]`` table.

    Each name in ``secrets`` is read from the environment variable named by
    ``NAME_env``; the secret itself written in the table is refused. Relative
    `Path` fields are taken relative to ``base_dir`` (the file's folder).
    Every problem is collected into one `ConfigError`.
    """
    environ = os.environ if environ is None else environ
    values = {k: v for k, v in table.items() if k not in ignore}
    problems: list[tuple[str, str]] = []
    fields = attrs.fields_dict(cls)  # type: ignore[arg-type]
    for secret in secrets:
        if secret in values:
            del values[secret]
            problems.append(
                (
                    secret,
                    f"secrets do not belong in the file: name the environment variable "
                    f'that holds it, e.g. {secret}_env = "UNIMSG_{secret.upper()}"',
                )
            )
        env = values.pop(f"{secret}_env", None)
        if env is None:
            continue
        if not isinstance(env, str):
            problems.append((f"{secret}_env", f"expected a variable name, got {_show(env)}"))
        elif env not in environ:
            problems.append((f"{secret}_env", f"the environment variable {env} is not set"))
        else:
            values[secret] = environ[env]
    types_ = typing.get_type_hints(cls)
    for name in fields:
        if name in values and isinstance(values[name], str) and _is_path(types_.get(name)):
            path = Path(values[name]).expanduser()
            if base_dir is not None and not path.is_absolute():
                path = base_dir / path
            values[name] = path
    offered = [n for n in fields if n not in secrets] + [f"{s}_env" for s in secrets]
    try:
        result = structure(values, cls, allowed={"": [*offered, *ignore]})
    except ConfigError as exc:
        problems.extend(
            # A complaint about the whole table when only the secrets were wrong is noise.
            p
            for p in exc.problems
            if not (problems and p[0] == "" and _mentions(p[1], secrets))
        )
        raise ConfigError(problems) from None
    if problems:
        raise ConfigError(problems)
    return result


def settings_from_keywords(cls: type[T], keywords: Mapping[str, Any]) -> T:
    """``cls(**keywords)``, with a `UsageError` naming a mistyped keyword's likely intent."""
    fields = attrs.fields_dict(cls)  # type: ignore[arg-type]
    for name in keywords:
        if name not in fields:
            raise UsageError(
                f"{cls.__name__} has no setting {name!r}{did_you_mean(name, list(fields))}"
            )
    missing = [
        name
        for name, field in fields.items()
        if field.default is attrs.NOTHING and field.init and name not in keywords
    ]
    if missing:
        raise UsageError(f"{cls.__name__} needs {', '.join(missing)}")
    return cls(**keywords)


def _mentions(message: str, names: Collection[str]) -> bool:
    return any(name in message for name in names)


def _is_path(kind: Any) -> bool:
    if kind is Path:
        return True
    if _is_union(kind):
        return Path in typing.get_args(kind)
    return False
