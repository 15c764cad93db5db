"""A receiving application, run as its own process so that a test can SIGKILL it.

    python -m tests.faults._receiver RECORD STORE [--work SECONDS]

The adapter settings come as JSON in the environment variable
``UNIMSG_FAULTS_ADAPTER`` (``{"network": "matrix" | "signal", ...}``), which
keeps access tokens off the command line. Every line of RECORD is written and
fsync'd before the next step, so a SIGKILL leaves an exact account of what
happened:

    ready                       the client is open
    arrived <text> <id>         the adapter handed the event to the client
    begin <text> <id>           the handler started
    handled <text> <id>         the handler's work is durable (before the ack)
    acked <text> <id>           client.ack returned: never to be handled again

Only messages whose text starts with ``m`` are recorded.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import TaskStatus

from unimsg import Adapter, Client, Event, EventSink, MessageReceived


class Record:
    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def write(self, line: str) -> None:
        os.write(self._fd, (line + "\n").encode())
        os.fsync(self._fd)


def _tracked(event: Event) -> MessageReceived | None:
    if isinstance(event, MessageReceived) and event.text.startswith("m"):
        return event
    return None


class Watched:
    """The adapter, with every event it hands over written down first."""

    def __init__(self, adapter: Adapter, record: Record) -> None:
        self._adapter = adapter
        self._record = record

    def __getattr__(self, name: str) -> Any:
        return getattr(self._adapter, name)

    async def run(
        self, sink: EventSink, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        async def watching(event: Event) -> None:
            message = _tracked(event)
            if message is not None:
                self._record.write(f"arrived {message.text} {message.id}")
            await sink(event)

        await self._adapter.run(watching, task_status=task_status)


def make_adapter(settings: dict[str, Any]) -> Adapter:
    network = settings.pop("network")
    if network == "matrix":
        from unimsg_matrix import MatrixAdapter, MatrixConfig

        if any(name.endswith("_env") for name in settings):
            # Secrets named by environment variable, as a deployment's unimsg.toml does.
            return MatrixAdapter(MatrixConfig.from_mapping(settings))
        return MatrixAdapter(**settings)
    from unimsg_signal import SignalAdapter

    return SignalAdapter.create(settings.pop("account"), settings.pop("url"), **settings)


async def main(record_path: Path, store: Path, work: float) -> None:
    record = Record(record_path)
    settings = json.loads(os.environ["UNIMSG_FAULTS_ADAPTER"])
    adapter = Watched(make_adapter(settings), record)
    async with Client(adapter, store=store) as client:
        record.write("ready")
        async for event in client.events(auto_ack=False):
            message = _tracked(event)
            if message is not None:
                record.write(f"begin {message.text} {message.id}")
                await anyio.sleep(work)  # the handler's work, where a crash lands
                record.write(f"handled {message.text} {message.id}")
            await client.ack(event)
            if message is not None:
                record.write(f"acked {message.text} {message.id}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("record", type=Path)
    parser.add_argument("store", type=Path)
    parser.add_argument("--work", type=float, default=0.05)
    args = parser.parse_args()
    anyio.run(main, args.record, args.store, args.work, backend="asyncio")
