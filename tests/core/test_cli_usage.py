"""The command line: checks before connecting, bounded waits, one line per failure."""

from __future__ import annotations

import io
import logging
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from unimsg._cli import build_parser, configure_logging, main

FAKE = """
[[adapters]]
type = "fake"
account = "matrix:@bot:fake.test"
peers = ["matrix:@bob:fake.test"]
"""

DOWN = """
[[adapters]]
type = "signal"
account = "+15550000001"
url = "tcp://127.0.0.1:{port}"
give_up_after = 1.0
"""

HANGING_MATRIX = """
[[adapters]]
type = "matrix"
homeserver = "http://127.0.0.1:{port}"
user_id = "@bot:example.org"
password_env = "UNIMSG_TEST_PASSWORD"
store_path = "state"
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A server that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    server.close()


def _config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "unimsg.toml"
    path.write_text(text)
    return str(path)


def _err_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.startswith("unimsg:")]


def test_an_invalid_address_is_refused_before_connecting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, DOWN.format(port=_free_port()))
    assert main(["send", "--config", config, "signal:12", "hi"]) == 1
    err = capsys.readouterr().err
    assert "InvalidAddressError: invalid address 'signal:12'" in err
    assert "connecting" not in err


def test_an_unknown_contact_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path, FAKE + '[contacts.ops]\nidentities = ["matrix:@bob:fake.test"]\n')
    assert main(["send", "--config", config, "osp", "hi"]) == 1
    assert "no contact named 'osp' (did you mean 'ops'?)" in capsys.readouterr().err


def test_only_the_needed_adapters_start(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Signal is down, but a message routed to Matrix does not need it.
    config = _config(tmp_path, FAKE + DOWN.format(port=_free_port()))
    assert main(["send", "--config", config, "matrix:@bob:fake.test", "hi"]) == 0
    assert "signal-cli" not in capsys.readouterr().err


def test_every_failing_adapter_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UNIMSG_TEST_PASSWORD", "not-used")
    port = _free_port()
    config = _config(tmp_path, HANGING_MATRIX.format(port=port) + DOWN.format(port=port))
    assert main(["listen", "--config", config, "--timeout", "10"]) == 1
    lines = _err_lines(capsys)
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"unimsg: the Matrix homeserver http://127.0.0.1:{port}")
    assert lines[1].startswith(f"unimsg: signal-cli at tcp://127.0.0.1:{port}")
    assert "not-used" not in "".join(lines)


def test_a_fast_failure_and_a_silent_server_are_both_named(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    silent_server: int,
) -> None:
    # Signal is refused at once, which stops the Matrix login: each is still named.
    monkeypatch.setenv("UNIMSG_TEST_PASSWORD", "not-used")
    down = _free_port()
    config = _config(tmp_path, HANGING_MATRIX.format(port=silent_server) + DOWN.format(port=down))
    assert main(["listen", "--config", config, "--timeout", "1"]) == 1
    lines = _err_lines(capsys)
    assert lines[0] == (
        f"unimsg: the Matrix homeserver http://127.0.0.1:{silent_server} as @bot:example.org: "
        "no answer within 1s"
    )
    assert lines[1].startswith(f"unimsg: signal-cli at tcp://127.0.0.1:{down} as +15550000001: ")
    assert "ConnectError" in lines[1]
    assert len(lines) == 2


def test_a_silent_homeserver_is_a_bounded_clear_failure(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    silent_server: int,
) -> None:
    monkeypatch.setenv("UNIMSG_TEST_PASSWORD", "not-used")
    config = _config(tmp_path, HANGING_MATRIX.format(port=silent_server))
    assert main(["send", "--config", config, "--timeout", "1", "matrix:@x:example.org", "hi"]) == 1
    err = capsys.readouterr().err
    assert f"connecting to the Matrix homeserver http://127.0.0.1:{silent_server}" in err
    assert err.splitlines()[-1] == (
        "unimsg: no answer within 1s while connecting to the Matrix homeserver "
        f"http://127.0.0.1:{silent_server} as @bot:example.org"
    )


def test_quiet_silences_progress(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path, FAKE)
    assert main(["-q", "send", "--config", config, "matrix:@bob:fake.test", "hi"]) == 0
    assert capsys.readouterr().err == ""


def test_text_from_stdin_and_from_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(tmp_path, FAKE)
    monkeypatch.setattr(sys, "stdin", io.StringIO("from stdin\n"))
    assert main(["-q", "send", "--config", config, "matrix:@bob:fake.test", "-"]) == 0
    (tmp_path / "note.txt").write_text("from a file\n")
    args = ["-q", "send", "--config", config, "matrix:@bob:fake.test"]
    assert main([*args, "--file", str(tmp_path / "note.txt")]) == 0
    assert main([*args, "--file", str(tmp_path / "missing.txt")]) == 1
    assert "cannot read --file" in capsys.readouterr().err


def test_a_text_over_the_limit_is_refused_before_connecting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, FAKE)
    assert main(["send", "--config", config, "matrix:@bob:fake.test", "x" * 60_001]) == 1
    err = capsys.readouterr().err
    assert "the text is 60001 bytes; matrix takes at most 60000: nothing sent" in err
    assert "connecting" not in err


def test_version_count_and_completion(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as version:
        main(["--version"])
    assert version.value.code == 0 and capsys.readouterr().out.startswith("unimsg 0.")
    for bad in ("0", "-3"):
        with pytest.raises(SystemExit) as count:
            main(["listen", "--count", bad])
        assert count.value.code == 2
        assert "must be a positive number" in capsys.readouterr().err
    for shell in ("bash", "zsh"):
        assert main(["completion", shell]) == 0
        script = capsys.readouterr().out
        assert "unimsg" in script and "listen" in script and "--timeout" in script


def test_check_lists_every_problem_and_connects_to_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = _config(tmp_path, DOWN.format(port=_free_port()) + '[[routes]]\nvia = "signal"\n')
    assert main(["check", good]) == 0
    assert ": ok: 1 adapter(s) (signal:+15550000001), 1 route(s)" in capsys.readouterr().out
    bad = _config(
        tmp_path,
        FAKE + '[[routes]]\nvia = "signl"\nmatch = "people"\n[contacts.al]\nidentities = ["x"]\n',
    )
    assert main(["check", bad]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert all(line.startswith(f"{bad}: ") for line in lines), lines
    assert [line.split(": ")[1] for line in lines] == [
        "routes[0].match",
        "routes[0].via",
        "contacts.al.identities[0]",
    ]


def test_check_reports_unreachable_contacts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(
        tmp_path,
        FAKE + '[[routes]]\nvia = "matrix"\n[contacts.al]\nidentities = ["signal:+15550000009"]\n',
    )
    assert main(["check", config]) == 1
    assert "contacts.al: no configured route reaches it" in capsys.readouterr().err


def test_other_libraries_stay_quiet_unless_asked(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging(build_parser().parse_args(["adapters"]))
        logging.getLogger("nio.responses").warning("noise from a library")
        logging.getLogger("unimsg.matrix").warning("ours")
        err = capsys.readouterr().err
        assert "noise" not in err and "ours" in err
        configure_logging(build_parser().parse_args(["-v", "adapters"]))
        logging.getLogger("nio.responses").debug("asked for")
        assert "asked for" in capsys.readouterr().err
    finally:
        root.handlers[:], root.level = saved[0], saved[1]


def test_failures_are_one_line_without_traceback(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "unimsg", "send", "--config", str(tmp_path / "no.toml"), "a", "b"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"unimsg: no configuration file at {tmp_path / 'no.toml'}; see docs/configuration.md"
    ]


def test_a_contact_on_two_networks_needs_only_the_best_route(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(
        tmp_path,
        FAKE
        + DOWN.format(port=_free_port())
        + '[[routes]]\nvia = "matrix"\n[[routes]]\nvia = "signal"\n'
        + '[contacts.bob]\nidentities = ["matrix:@bob:fake.test", "signal:+15550000002"]\n',
    )
    assert main(["send", "--config", config, "bob", "hi"]) == 0
    assert "signal-cli" not in capsys.readouterr().err


def test_an_encrypted_route_may_fall_through_so_both_start(tmp_path: Path) -> None:
    from unimsg import load_config

    config = load_config(
        _config(
            tmp_path,
            FAKE
            + DOWN.format(port=_free_port())
            + '[[routes]]\nvia = "matrix"\nencrypted = true\n[[routes]]\nvia = "signal"\n'
            + '[contacts.bob]\nidentities = ["matrix:@bob:fake.test", "signal:+15550000002"]\n',
        )
    )
    assert [a.network for a in config.adapters_for(config.target("bob"))] == ["matrix", "signal"]


def test_bash_completion_completes_commands_and_options(tmp_path: Path) -> None:
    script = tmp_path / "unimsg.bash"
    done = subprocess.run(
        [sys.executable, "-m", "unimsg", "completion", "bash"],
        capture_output=True,
        text=True,
        check=True,
    )
    script.write_text(done.stdout)
    probe = (
        f"source {script}\n"
        'COMP_WORDS=(unimsg se); COMP_CWORD=1; _shtab_unimsg; echo "${COMPREPLY[@]}"\n'
        'COMP_WORDS=(unimsg send --ti); COMP_CWORD=2; _shtab_unimsg; echo "${COMPREPLY[@]}"\n'
    )
    out = subprocess.run(
        ["bash", "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    assert out[:2] == ["send", "--timeout"]
