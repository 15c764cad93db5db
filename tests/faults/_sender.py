"""A sending application with a durable outbox, run as its own process so that a test can kill it.

    python -m tests.faults._sender RECORD STORE TO [--enqueue N]

With ``--enqueue N`` it queues the texts ``s0`` … ``s{N-1}`` to TO; without,
it only lets the outbox deliver what an earlier (killed) run left queued.
Adapter settings come as JSON in ``UNIMSG_FAULTS_ADAPTER`` (see _receiver.py).
RECORD gets ``ready``, ``queued`` once every text is in the outbox, ``sent <text> <id>``
per receipt, ``unknown <text>`` per send given up as outcome-unknown, and ``drained``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import anyio

from unimsg import Client

from ._receiver import Record, make_adapter


async def main(record_path: Path, store: Path, to: str, enqueue: int) -> None:
    record = Record(record_path)
    adapter = make_adapter(json.loads(os.environ["UNIMSG_FAULTS_ADAPTER"]))
    async with Client(adapter, store=store) as client:
        client.outbox.initial_backoff = 0.1
        client.outbox.on_outcome_unknown = lambda m, _: record.write(f"unknown {m.content.text}")
        record.write("ready")
        queued = [await client.enqueue(to, f"s{i}") for i in range(enqueue)]
        if enqueue:
            record.write("queued")
        for i, waiting in enumerate(queued):
            sent = await waiting.delivered()
            record.write(f"sent s{i} {sent.id}")
        # The store has no change notification; the outbox empties within seconds.
        while await client.store.outbox_pending():  # noqa: ASYNC110
            await anyio.sleep(0.02)
        record.write("drained")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("record", type=Path)
    parser.add_argument("store", type=Path)
    parser.add_argument("to")
    parser.add_argument("--enqueue", type=int, default=0)
    args = parser.parse_args()
    anyio.run(main, args.record, args.store, args.to, args.enqueue, backend="asyncio")
