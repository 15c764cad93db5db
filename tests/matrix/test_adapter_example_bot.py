"""examples/matrix_bot.py serves a real homeserver from a TOML file and an env var."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import anyio
import anyio.to_thread
import pytest

from unimsg import Client, MessageReceived
from unimsg.testing._waiting import EventWaiter

from .fixtures_adapter import MakeAdapter, MakeUser, make_adapter, store_root

__all__ = ["make_adapter", "store_root"]

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.asyncio
async def test_example_bot_answers(
    make_matrix_user: MakeUser, make_adapter: MakeAdapter, tmp_path: Path
) -> None:
    bot_user, alice_user = await make_matrix_user(), await make_matrix_user()
    config = tmp_path / "bot.toml"
    config.write_text(
        "[matrix]\n"
        f'homeserver = "{bot_user.homeserver}"\n'
        f'user_id = "{bot_user.user_id}"\n'
        'password_env = "TEST_BOT_PASSWORD"\n'
        'store_path = "bot-store"\n'
    )
    env = {**os.environ, "TEST_BOT_PASSWORD": bot_user.password}
    bot = subprocess.Popen(  # noqa: ASYNC220 - a long-running child, stopped below
        [sys.executable, str(ROOT / "examples" / "matrix_bot.py"), str(config)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert bot.stdout is not None
        lines: list[str] = []
        with anyio.fail_after(30):
            while not any("is listening" in line for line in lines):
                line = await anyio.to_thread.run_sync(bot.stdout.readline)
                assert line, f"the bot exited: {''.join(lines)}"
                lines.append(line)
        alice = make_adapter(alice_user)
        async with Client(alice) as a:
            inbox = EventWaiter(a, 20)
            await a.send(f"matrix:{bot_user.user_id}", "!ping")
            pong = await inbox.next(MessageReceived, lambda e: e.text == "pong")
            assert pong.sender.id == bot_user.user_id and pong.encrypted
            await a.send(f"matrix:{bot_user.user_id}", "hello bot")
            await inbox.next(MessageReceived, lambda e: e.text == "echo: hello bot")
    finally:
        bot.terminate()
        output, _ = bot.communicate(timeout=10)
    assert bot_user.password not in output
    assert (tmp_path / "bot-store" / "state.json").is_file()
