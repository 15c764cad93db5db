import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parents[2] / "examples"

CONFIG = """
[[adapters]]
type = "fake"
account = "signal:+15550000100"
peers = ["signal:+15550000001"]

[[routes]]
match = "person"
via = "signal"

[contacts.alice]
kind = "person"
identities = ["signal:+15550000001"]
"""


def run(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=20, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("notify.py", ["notified alice at signal:+15550000001"]),
        ("echo_bot.py", ["bot: 'echo: hello'", "bot: 'pong'", "unknown command !nope"]),
        (
            "relay.py",
            [
                "Signal group sees: 'Alice: standup in 5?'",
                "'Bob: on my way' (a reply to her message)",
                "reaction on Alice's message",
            ],
        ),
        (
            "hybrid_ops_bot.py",
            [
                "(Signal, person route)",
                "(Matrix, group route)",
                "refused, nothing sent",
                "bot replies over the same network: signal:",
                "the team room gets the summary",
            ],
        ),
    ],
)
def test_example_runs_on_the_fake_network(script: str, expected: list[str]) -> None:
    out = run(str(EXAMPLES / script))
    for line in expected:
        assert line in out


def test_notify_with_a_config(tmp_path: Path) -> None:
    config = tmp_path / "unimsg.toml"
    config.write_text(CONFIG)
    out = run(str(EXAMPLES / "notify.py"), "--config", str(config), "alice", "deploy failed")
    assert "notified alice at signal:+15550000001" in out


DOCS = Path(__file__).parents[2] / "docs"


def runnable_example(page: str) -> str:
    text = (DOCS / page).read_text()
    section = text.split("## A runnable example", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        ("bots.md", "deploying staging for Alice"),
        ("relay.md", "Bob: on my way True"),
        ("routing.md", "signal:+15550000001"),
    ],
)
def test_the_documentation_examples_run(page: str, expected: str) -> None:
    assert expected in run("-c", runnable_example(page))
