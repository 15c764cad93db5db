"""A process sharing one PostgreSQL store with others, run so that a test can SIGKILL it.

    python -m tests.faults._pgworker RECORD URL send [--enqueue TO N] [--lease S]
    python -m tests.faults._pgworker RECORD URL queue --enqueue TO N
    python -m tests.faults._pgworker RECORD URL read [--lease S]

The adapter settings come as JSON in ``UNIMSG_FAULTS_ADAPTER`` (see _receiver.py),
the store's password in ``PGPASSWORD``. ``send`` runs the outbox (claims expire
after ``--lease`` seconds) and records ``unknown <text>`` for each send given up
as outcome-unknown; with ``--enqueue`` it first queues ``s0`` … to TO (a
comma-separated list of conversations: ``s<i>`` goes to the i-th modulo its length).
``queue`` only queues them (sending nothing), records ``queued`` and exits. ``read``
waits for the reader lease (``--lease`` seconds), records ``active`` once it
holds it, then ``handled <text>`` and ``acked <text>`` per message starting ``m``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import anyio

from unimsg import Client, MessageReceived, OutcomeUnknownError, OutgoingMessage, PostgresStore

from ._receiver import Record, make_adapter


async def main(args: argparse.Namespace) -> None:
    record = Record(args.record)
    adapter = make_adapter(json.loads(os.environ["UNIMSG_FAULTS_ADAPTER"]))
    store = PostgresStore(args.url, reconnect_timeout=30)
    if args.role in ("send", "queue"):
        client = Client(adapter, store=store)
        if args.role == "queue":
            client.outbox.concurrency = 0  # claims nothing: the workers send
        client.outbox.claim_lease = args.lease
        client.outbox.poll_interval = 0.2
        client.outbox.initial_backoff = 0.1

        def unknown(message: OutgoingMessage, _: OutcomeUnknownError) -> None:
            record.write(f"unknown {message.content.text}")

        client.outbox.on_outcome_unknown = unknown
        async with client:
            record.write("ready")
            if args.enqueue:
                targets, count = args.enqueue[0].split(","), int(args.enqueue[1])
                for i in range(count):
                    await client.enqueue(targets[i % len(targets)], f"s{i}")
                record.write("queued")
            if args.role == "send":
                await anyio.sleep_forever()
    else:
        client = Client(adapter, store=store, reader_lease=args.lease)
        record.write("ready")
        async with client:
            record.write("active")
            async for event in client.events(auto_ack=False):
                if isinstance(event, MessageReceived) and event.text.startswith("m"):
                    record.write(f"handled {event.text}")
                    await client.ack(event)
                    record.write(f"acked {event.text}")
                else:
                    await client.ack(event)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("record", type=Path)
    parser.add_argument("url")
    parser.add_argument("role", choices=["send", "queue", "read"])
    parser.add_argument("--enqueue", nargs=2, metavar=("TO", "N"))
    parser.add_argument("--lease", type=float, default=2.0)
    anyio.run(main, parser.parse_args(), backend="asyncio")
