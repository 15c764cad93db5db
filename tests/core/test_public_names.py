"""Examples, docs and adapters use only public names: no ``unimsg._*`` module."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
PRIVATE = re.compile(r"\bunimsg(\.\w+)*\._\w+|from unimsg(\.\w+)* import _\w+")


def _private_imports(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        found += [
            name
            for name in names
            if name.split(".")[0] == "unimsg" and any(p.startswith("_") for p in name.split("."))
        ]
    return found


PY_FILES = sorted([*ROOT.glob("examples/**/*.py"), *ROOT.glob("adapters/**/*.py")])
MD_FILES = sorted([ROOT / "README.md", *ROOT.glob("docs/**/*.md")])


@pytest.mark.parametrize("path", PY_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_code_imports_only_public_names(path: Path) -> None:
    assert _private_imports(path.read_text()) == []


@pytest.mark.parametrize("path", MD_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_docs_show_only_public_names(path: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", path.read_text(), re.S)
    text = "\n".join(blocks)
    assert PRIVATE.findall(text) == []
    # Outside code, a private module may only be named in measurements (import costs).
    prose = PRIVATE.sub("", path.read_text()) if path.name == "performance.md" else path.read_text()
    assert [m.group(0) for m in PRIVATE.finditer(prose)] == []


def test_the_check_finds_private_imports() -> None:
    assert _private_imports("from unimsg._config import load_config") == [
        "unimsg._config",
        "unimsg._config.load_config",
    ]
    assert _private_imports("import unimsg.testing._waiting") == ["unimsg.testing._waiting"]
    assert _private_imports("from unimsg import _cli") == ["unimsg._cli"]
    assert _private_imports("from unimsg.testing import EventWaiter") == []
