import json
import subprocess
import sys
from pathlib import Path

import pytest

from unimsg import MessageReceived
from unimsg._cli import main
from unimsg._cli_commands import to_json

CONFIG = """
[[adapters]]
type = "fake"
account = "signal:+15550000001"
peers = ["signal:+15550000002"]

[contacts.bob]
identities = ["signal:+15550000002"]
"""


def test_demo_prints_the_transcript() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "unimsg", "demo"], capture_output=True, text=True, check=True
    ).stdout
    assert "routed to signal:+15550000001 (Signal, person route)" in out
    assert "(Matrix, group route)" in out
    assert "refused, nothing sent" in out
    assert "bot replies over the same network: signal:" in out


def test_send_and_conversations_from_a_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "unimsg.toml"
    config.write_text(CONFIG)
    assert main(["send", "--config", str(config), "bob", "hello"]) == 0
    sent = json.loads(capsys.readouterr().out)
    assert sent["conversation"] == "signal:+15550000002"
    assert sent["recipients"][0]["status"] == "delivered"


def test_bad_address_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "unimsg.toml"
    config.write_text(CONFIG)
    assert main(["send", "--config", str(config), "signal:5550000002", "hello"]) == 1
    assert "InvalidAddressError" in capsys.readouterr().err


def test_missing_config_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["conversations", "--config", str(tmp_path / "nope.toml")]) == 1
    assert "no configuration file" in capsys.readouterr().err


def test_events_as_json_lines() -> None:
    from datetime import UTC, datetime

    from unimsg import Address

    me = Address.parse("signal:+15550000001")
    event = MessageReceived(
        network="signal",
        account=me,
        conversation=me,
        sender=me,
        id="1",
        timestamp=datetime(2026, 1, 1, tzinfo=UTC),
        text="hi",
        raw={"secret": "x"},
    )
    line = json.loads(to_json(event))
    assert line["type"] == "MessageReceived" and line["text"] == "hi"
    assert "raw" not in line
