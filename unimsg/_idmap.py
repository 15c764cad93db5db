"""The relay's id map: which message is the copy of which, kept in SQLite."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from ._address import Address
from ._types import MessageRef

__all__ = ["IdMap"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS copies (
    relay TEXT NOT NULL,
    origin_conversation TEXT NOT NULL, origin_id TEXT NOT NULL,
    origin_sender TEXT NOT NULL, origin_time TEXT NOT NULL,
    copy_conversation TEXT NOT NULL, copy_id TEXT NOT NULL,
    copy_sender TEXT NOT NULL, copy_time TEXT NOT NULL,
    PRIMARY KEY (relay, origin_conversation, origin_id)
);
CREATE UNIQUE INDEX IF NOT EXISTS copies_by_copy ON copies (relay, copy_conversation, copy_id);
CREATE TABLE IF NOT EXISTS handled (
    relay TEXT NOT NULL, conversation TEXT NOT NULL, event_id TEXT NOT NULL,
    PRIMARY KEY (relay, conversation, event_id)
);
"""


class IdMap:
    """Which message is the copy of which, per relay, in one SQLite file.

    The calls are synchronous on purpose: each is one indexed row on a local
    file in WAL mode with ``synchronous=NORMAL`` (no fsync per commit), tens
    of microseconds, less than a hop to a worker thread would cost. The price
    of NORMAL is that a power cut (not a crash) can forget the last few pairs;
    their edits and reactions then stop following, nothing is duplicated.
    """

    def __init__(self, store: str | os.PathLike[str], relay: str) -> None:
        self.relay = relay
        if str(store) != ":memory:":
            path = Path(store).expanduser()
            path.parent.mkdir(parents=True, exist_ok=True)
            # Created private before sqlite sees it; sqlite gives the -wal and
            # -shm files the database file's mode.
            os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
            store = path
        # Imported here: most programs never open one, and `import unimsg` should stay quick.
        import sqlite3

        self._db = sqlite3.connect(store, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def record(self, origin: MessageRef, copy: MessageRef) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO copies VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (self.relay, *_row(origin), *_row(copy)),
        )

    def copy_of(self, conversation: Address, message_id: str) -> MessageRef | None:
        return self._find("copy", "origin", conversation, message_id)

    def origin_of(self, conversation: Address, message_id: str) -> MessageRef | None:
        return self._find("origin", "copy", conversation, message_id)

    def counterpart(self, conversation: Address, message_id: str) -> MessageRef | None:
        """The other side's message: the copy of an original, or the original of a copy."""
        return self.copy_of(conversation, message_id) or self.origin_of(conversation, message_id)

    def known(self, conversation: Address, message_id: str) -> bool:
        return self.counterpart(conversation, message_id) is not None

    def handled(self, conversation: Address, event_id: str) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM handled WHERE relay = ? AND conversation = ? AND event_id = ?",
            (self.relay, str(conversation), event_id),
        ).fetchone()
        return row is not None

    def mark_handled(self, conversation: Address, event_id: str) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO handled VALUES (?, ?, ?)",
            (self.relay, str(conversation), event_id),
        )

    def _find(self, want: str, have: str, conversation: Address, mid: str) -> MessageRef | None:
        # Column names come from the two literals above, never from input.
        row = self._db.execute(
            f"SELECT {want}_conversation, {want}_id, {want}_sender, {want}_time FROM copies "  # noqa: S608
            f"WHERE relay = ? AND {have}_conversation = ? AND {have}_id = ?",
            (self.relay, str(conversation), mid),
        ).fetchone()
        if row is None:
            return None
        return MessageRef(
            conversation=Address.parse(row[0]),
            id=row[1],
            sender=Address.parse(row[2]),
            timestamp=datetime.fromisoformat(row[3]),
        )


def _row(ref: MessageRef) -> tuple[str, str, str, str]:
    return str(ref.conversation), ref.id, str(ref.sender), ref.timestamp.isoformat()
