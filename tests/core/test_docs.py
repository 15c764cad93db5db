"""Samples of the docs that are files of their own: they run as a user would run them.

(The Python blocks themselves are executed by Sybil, see conftest.py.)
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import unimsg
from unimsg._config import parse_config

DOCS = Path(__file__).parents[2] / "docs"


def _blocks(page: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", (DOCS / page).read_text(), re.S)


def test_the_testing_page_sample_passes_as_pasted(tmp_path: Path) -> None:
    (sample,) = [b for b in _blocks("testing.md", "python") if b.startswith("# test_bot.py")]
    (tmp_path / "test_bot.py").write_text(sample)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_bot.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # Once, not once per backend.
    assert "1 passed" in done.stdout, done.stdout


@pytest.mark.parametrize("index", range(len(_blocks("configuration.md", "toml"))))
def test_configuration_samples_load(
    index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UNIMSG_MATRIX_PASSWORD", "not-used")
    data = tomllib.loads(_blocks("configuration.md", "toml")[index])
    config = parse_config(data, base_dir=tmp_path)
    assert isinstance(config, unimsg.Config) and config.adapters


def test_the_shown_errors_are_the_real_ones(tmp_path: Path) -> None:
    (shown,) = [b for b in _blocks("configuration.md", "text") if "unknown section" in b]
    path = tmp_path / "unimsg.toml"
    path.write_text(
        '[clinet]\n[[adapters]]\ntype = "fake"\naccount = "signal:+15550000001"\n'
        '[[adapters]]\ntype = "matrix"\nhomeserver = "https://h.test"\nuser_id = "@b:h.test"\n'
        'store_path = "s"\npassword = "x"\n'
        '[[routes]]\nvia = "signal"\n[[routes]]\nvia = "signal"\nencryptd = true\n'
        '[[routes]]\nvia = "signal"\nmatch = "people"\n'
    )
    with pytest.raises(unimsg.ConfigError) as raised:
        unimsg.load_config(path)
    got = [line.replace(str(path), "unimsg.toml") for line in raised.value.lines()]
    assert sorted(got) == sorted(shown.strip().splitlines())
