"""A process sharing one PostgreSQL store with others, run so that a test can SIGKILL it.

    python -m tests.faults._pgworker RECORD URL send [--enqueue TO N] [--lease S]
    python -m tests.faults._pgworker RECORD URL queue --enqueue TO N
    python -m tests.faults._pgworker RECORD URL read [--lease S] [--debug]

The adapter settings come as JSON in ``UNIMSG_FAULTS_ADAPTER`` (see _receiver.py),
the store's password in ``PGPASSWORD``. ``send`` runs the outbox (claims expire
after ``--lease`` seconds) and records ``unknown <text>`` for each send given up
as outcome-unknown; with ``--enqueue`` it first queues ``s0`` … to TO (a
comma-separated list of conversations: ``s<i>`` goes to the i-th modulo its length).
``queue`` only queues them (sending nothing), records ``queued`` and exits. ``read``
waits for the reader lease (``--lease`` seconds), records ``active`` once it
holds it (and ``device <id>`` for a Matrix adapter), then ``handled <text> <id>
<encrypted 0|1>`` and ``acked <text>`` per message starting ``m``, and
``undecryptable <id>`` per `UndecryptableMessage`. ``--debug`` logs every
logger at DEBUG to stderr (the process's log file).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

import anyio

from unimsg import (
    Client,
    MessageReceived,
    OutcomeUnknownError,
    OutgoingMessage,
    PostgresStore,
    UndecryptableMessage,
)

from ._receiver import Record, make_adapter


async def main(args: argparse.Namespace) -> None:
    if args.debug:
        logging.basicConfig(
            level=logging.DEBUG, format="%(asctime)s %(name)s %(levelname)s %(message)s"
        )
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
            device = getattr(adapter, "device_id", None)
            if device is not None:
                record.write(f"device {device}")
            async for event in client.events(auto_ack=False):
                if isinstance(event, MessageReceived) and event.text.startswith("m"):
                    record.write(f"handled {event.text} {event.id} {int(event.encrypted)}")
                    await client.ack(event)
                    record.write(f"acked {event.text}")
                else:
                    if isinstance(event, UndecryptableMessage):
                        record.write(f"undecryptable {event.id}")
                    await client.ack(event)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("record", type=Path)
    parser.add_argument("url")
    parser.add_argument("role", choices=["send", "queue", "read"])
    parser.add_argument("--enqueue", nargs=2, metavar=("TO", "N"))
    parser.add_argument("--lease", type=float, default=2.0)
    parser.add_argument("--debug", action="store_true", help="log everything to stderr")
    anyio.run(main, parser.parse_args(), backend="asyncio")
