"""Runs tests/faults/_receiver.py (or _sender.py) as a child process and reads its record."""

from __future__ import annotations

import collections
import contextlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import Process

ROOT = Path(__file__).resolve().parents[2]
Line = tuple[str, ...]


class AppProcess:
    """One application process; ``kill`` is a SIGKILL, ``start`` a restart with the same store."""

    def __init__(
        self,
        tmp: Path,
        settings: dict[str, Any],
        *,
        work: float = 0.05,
        module: str = "tests.faults._receiver",
    ) -> None:
        name = module.rsplit("_", 1)[-1]
        self.record = tmp / f"{name}-record.txt"
        self.store = tmp / f"{name}.db"
        self.log = tmp / f"{name}.log"
        self.settings = settings
        self.module = module
        #: Arguments after RECORD STORE.
        self.args = ["--work", str(work)] if module.endswith("_receiver") else []
        self._process: Process | None = None
        self.kills = 0

    async def start(self, within: float = 30.0) -> None:
        ready = self.count("ready")
        env = {**os.environ, "UNIMSG_FAULTS_ADAPTER": json.dumps(self.settings)}
        command = [sys.executable, "-m", self.module, str(self.record), str(self.store)]
        command += self.args
        with self.log.open("a") as log:
            self._process = await anyio.open_process(
                command, cwd=ROOT, env=env, stdin=None, stdout=log, stderr=log
            )
        await self.wait(lambda lines: sum(line == ("ready",) for line in lines) > ready, within)

    async def kill(self) -> None:
        assert self._process is not None
        with contextlib.suppress(ProcessLookupError):
            self._process.kill()
        await self._process.wait()
        self._process = None
        self.kills += 1
        # Written by us once the child is gone, so runs are easy to tell apart.
        with self.record.open("a") as f:
            f.write("killed\n")

    async def stop(self) -> None:
        if self._process is not None:
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()
            await self._process.wait()
            self._process = None

    def lines(self) -> list[Line]:
        try:
            text = self.record.read_text()
        except FileNotFoundError:
            return []
        # A line cut short by the kill has no newline yet: ignore it.
        return [tuple(line.split(" ")) for line in text.split("\n")[:-1] if line]

    def count(self, *line: str) -> int:
        return sum(got == line for got in self.lines())

    async def wait(self, ready: Callable[[list[Line]], bool], within: float) -> None:
        with anyio.fail_after(within):
            while not ready(self.lines()):
                exited = self._process is not None and self._process.returncode is not None
                if exited and not ready(self.lines()):
                    raise AssertionError(f"{self.module} exited: {self.log.read_text()[-3000:]}")
                await anyio.sleep(0.005)

    def handled(self) -> collections.Counter[str]:
        return collections.Counter(line[1] for line in self.lines() if line[0] == "handled")


def began(text: str) -> Callable[[list[Line]], bool]:
    return lambda lines: any(line[:2] == ("begin", text) for line in lines)


def handled_all(texts: list[str]) -> Callable[[list[Line]], bool]:
    wanted = set(texts)
    return lambda lines: wanted <= {line[1] for line in lines if line[0] == "handled"}


def runs(lines: list[Line]) -> list[list[Line]]:
    """The record split per process run (a ``ready`` line starts one)."""
    found: list[list[Line]] = []
    for line in lines:
        if line == ("ready",):
            found.append([])
        elif found:
            found[-1].append(line)
    return found


def interrupted(run: list[Line]) -> str | None:
    """The message whose handler was running when this run was killed."""
    begun = [line[1] for line in run if line[0] == "begin"]
    done = {line[1] for line in run if line[0] == "handled"}
    open_ = [text for text in begun if text not in done]
    return open_[-1] if open_ else None


def handled_after_ack(lines: list[Line]) -> list[str]:
    """Messages handled again after their ack had returned: the guarantee says none."""
    acked: set[str] = set()
    late = []
    for line in lines:
        if line[0] == "acked":
            acked.add(line[1])
        elif line[0] in ("begin", "handled") and line[1] in acked:
            late.append(line[1])
    return late
