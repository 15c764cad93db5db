"""Every exception the library raises is a UnimsgError: checked on the source itself.

Walks each ``raise`` in unimsg/ and adapters/ and resolves what it raises in
its module: a class must be in the tree, a factory function must be annotated
to return one. Names the module cannot resolve are caught exceptions raised
again (``raise exc``), which were checked where they were made.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import types
import typing
from collections.abc import Iterator
from pathlib import Path

import anyio
import anyio.abc
import pytest

from unimsg import UnimsgError

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {
    "unimsg": ROOT / "unimsg",
    "unimsg_matrix": ROOT / "adapters" / "unimsg_matrix",
    "unimsg_signal": ROOT / "adapters" / "unimsg_signal",
}
# The Signal emulator stands in for the signal-cli program: it imports nothing
# of unimsg and answers bad calls with JSON-RPC error objects, as the real daemon does.
EXCLUDED = ("unimsg_signal.emulator",)
# Exceptions with a fixed meaning in Python's protocols, allowed in those methods only.
PROTOCOL = {
    "__anext__": StopAsyncIteration,
    "__next__": StopIteration,
    "__getattr__": AttributeError,
}
# An anyio byte stream reports its end and its failures by anyio's own exceptions,
# as its callers (anyio's TLS and buffered wrappers among them) expect.
STREAM_ERRORS = (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError)
STREAM_METHODS = ("receive", "send")
# pytest reports a failed check by its AssertionError; only the test kit raises it.
TEST_KIT = "unimsg.testing"


def _modules() -> Iterator[tuple[str, Path]]:
    for package, folder in PACKAGES.items():
        for path in sorted(folder.rglob("*.py")):
            parts = path.relative_to(folder).with_suffix("").parts
            if parts[-1] == "__main__":
                continue  # importing it would run the program; it raises nothing itself
            if parts[-1] == "__init__":
                parts = parts[:-1]
            name = ".".join((package, *parts))
            if not name.startswith(EXCLUDED):
                yield name, path


def _resolve(module: types.ModuleType, node: ast.expr) -> object | None:
    if isinstance(node, ast.Name):
        return getattr(module, node.id, None) or getattr(builtins, node.id, None)
    if isinstance(node, ast.Attribute):
        owner = _resolve(module, node.value)
        return None if owner is None else getattr(owner, node.attr, None)
    return None


def _in_tree(kind: object) -> bool:
    if isinstance(kind, type):
        return issubclass(kind, UnimsgError)
    if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:
        return all(_in_tree(arg) for arg in typing.get_args(kind))
    return False


def _is_stream(owner: object) -> bool:
    return isinstance(owner, type) and issubclass(owner, anyio.abc.ByteStream)


def _problem(
    module: types.ModuleType, raised: ast.expr, function: str = "", owner: object = None
) -> str | None:
    target = raised.func if isinstance(raised, ast.Call) else raised
    found = _resolve(module, target)
    if found is None:
        return None  # a local: an exception caught and raised again
    if isinstance(found, type):
        if _in_tree(found) or PROTOCOL.get(function) is found:
            return None
        if found in STREAM_ERRORS and function in STREAM_METHODS and _is_stream(owner):
            return None
        if found is AssertionError and module.__name__.startswith(TEST_KIT):
            return None
        return f"raises {found.__name__}, which is not a UnimsgError"
    if callable(found) and isinstance(raised, ast.Call):
        returns = typing.get_type_hints(found).get("return")
        if _in_tree(returns):
            return None
        return f"raises what {ast.unparse(target)}() returns ({returns!r}), not a UnimsgError"
    return f"raises {ast.unparse(raised)}, which is neither an exception class nor a factory"


def _raises() -> Iterator[tuple[str, str]]:
    for name, path in _modules():
        module = importlib.import_module(name)
        for owner, function, node in _raise_nodes(ast.parse(path.read_text(), str(path))):
            if node.exc is not None:
                problem = _problem(module, node.exc, function, getattr(module, owner, None))
                if problem:
                    yield f"{path.relative_to(ROOT)}:{node.lineno}", problem


def _raise_nodes(
    tree: ast.AST, owner: str = "", function: str = ""
) -> Iterator[tuple[str, str, ast.Raise]]:
    """Every ``raise`` with the names of the class and the function it is in."""
    for child in ast.iter_child_nodes(tree):
        if isinstance(child, ast.Raise):
            yield owner, function, child
        if isinstance(child, ast.ClassDef):
            yield from _raise_nodes(child, child.name, "")
        elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
            yield from _raise_nodes(child, owner, child.name)
        else:
            yield from _raise_nodes(child, owner, function)


def test_every_raise_is_in_the_error_tree() -> None:
    pytest.importorskip("nio")
    bad = [f"{where}: {problem}" for where, problem in _raises()]
    assert bad == []


def test_the_check_catches_a_foreign_error() -> None:
    module = types.ModuleType("probe")
    exec("def make():\n    return ValueError('x')\n", module.__dict__)
    tree = ast.parse(
        "raise ValueError('x')\nraise make()\nraise unimsg_error('x')\nraise AttributeError('x')"
    )
    module.__dict__["unimsg_error"] = UnimsgError
    problems = [_problem(module, node.exc) for node in tree.body if isinstance(node, ast.Raise)]
    assert problems[0] is not None and "ValueError" in problems[0]
    assert problems[1] is not None and "make()" in problems[1]
    assert problems[2] is None
    assert problems[3] is not None and "AttributeError" in problems[3]
    source = (
        "def __getattr__(name):\n    raise AttributeError(name)\ndef f():\n    raise StopIteration"
    )
    nodes = _raise_nodes(ast.parse(source))
    found = [(f, _problem(module, n.exc, f)) for _, f, n in nodes if n.exc]
    # The protocol's own exception, in the protocol's method only.
    assert [f for f, _ in found] == ["__getattr__", "f"]
    assert found[0][1] is None and found[1][1] is not None


def test_stream_errors_only_in_a_byte_streams_own_methods() -> None:
    module = types.ModuleType("probe")
    source = (
        "class Stream(anyio.abc.ByteStream):\n"
        "    async def receive(self):\n        raise anyio.EndOfStream\n"
        "    async def helper(self):\n        raise anyio.EndOfStream\n"
        "class Other:\n"
        "    async def receive(self):\n        raise anyio.EndOfStream\n"
    )
    module.__dict__["anyio"] = anyio
    exec(
        "import anyio.abc\nclass Stream(anyio.abc.ByteStream): pass\nclass Other: pass",
        module.__dict__,
    )
    found = [
        (o, f, _problem(module, n.exc, f, getattr(module, o, None)))
        for o, f, n in _raise_nodes(ast.parse(source))
        if n.exc
    ]
    assert [(o, f) for o, f, _ in found] == [
        ("Stream", "receive"),
        ("Stream", "helper"),
        ("Other", "receive"),
    ]
    assert found[0][2] is None
    assert found[1][2] is not None and found[2][2] is not None
