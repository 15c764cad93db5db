"""The adapter on docs/adapters.md, run from the page itself through the conformance kit."""

import re
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

PAGE = Path(__file__).resolve().parents[2] / "docs" / "adapters.md"


def files_on_the_page() -> dict[str, str]:
    """Every ```python block whose first line is ``# file: NAME``."""
    blocks = re.findall(r"```python\n# file: (\S+)\n(.*?)```", PAGE.read_text(), re.S)
    return dict(blocks)


def test_the_pages_adapter_passes_the_kit_with_the_rest_skipped(
    pytester: pytest.Pytester,
) -> None:
    files = files_on_the_page()
    assert set(files) == {"folder_adapter.py", "test_folder_adapter.py"}
    for name, code in files.items():
        pytester.makepyfile(**{name.removesuffix(".py"): code})
    result = pytester.runpytest_subprocess("-rs", "-p", "no:cacheprovider")
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0 and outcomes.get("errors", 0) == 0, result.outlines
    assert outcomes["passed"] >= 10, outcomes
    skipped = "\n".join(line for line in result.outlines if line.startswith("SKIPPED"))
    # Optional capabilities are skipped with their reason, never passed.
    for reason in ("does not implement SupportsReactions", "no idempotent sends", "'redelivery'"):
        assert reason in skipped, skipped
