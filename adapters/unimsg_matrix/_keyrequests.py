"""Late and missing room keys: ask for them, and decrypt what waited once they come.

An event whose key is in the server-side key backup is decrypted from it
before it is delivered. Any other event this device cannot decrypt is
delivered at once as `UndecryptableMessage`. Then the adapter asks for its Megolm session
(``m.room_key_request``) from this account's other devices and from the
sender's device, and from the server-side key backup when one is set up
(`KeySource`). When the key arrives, the event is decrypted and delivered as
the ordinary event it is (a `MessageReceived`, an edit, a reaction...) with the
same ``id`` and conversation as the `UndecryptableMessage` before it.

Keys are forwarded to us only by this account's own verified devices, or by
the device that created the session (which could have sent it in the first
place); nio answers requests only from our own verified devices.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol

import attrs
import nio
from nio.crypto.key_request import OutgoingKeyRequest

from unimsg import Event, UndecryptableMessage, UnimsgError

from ._backup import BackupKey, KeyBackup
from ._crosstrust import CrossTrust
from ._session import Session
from ._store import write_private_json

__all__ = ["BackupSource", "KeyRequests", "KeySource"]

log = logging.getLogger("unimsg.matrix")

_MEGOLM = "m.megolm.v1.aes-sha2"
#: Undecryptable events kept waiting for their key; the oldest are given up first.
_WAITING = 2048
_FILE = "key_requests.json"
#: Seconds until the key sources (the backup) are looked at again for a missing key.
_RETRY = (5.0, 30.0, 120.0, 600.0, 3600.0)


class KeySource(Protocol):
    """Somewhere else a missing room key may be, e.g. the server-side key backup.

    ``fetch`` imports the session into the device's store if it has it and
    says whether it did; it must not raise for a key it does not have.
    """

    async def fetch(self, room_id: str, session_id: str, sender_key: str) -> bool: ...


class BackupSource:
    """The server-side key backup, when this device holds its private key."""

    def __init__(self, backup: KeyBackup, key: BackupKey) -> None:
        self._backup = backup
        self._key = key

    async def fetch(self, room_id: str, session_id: str, sender_key: str) -> bool:
        return await self._backup.restore_session(self._key, room_id, session_id)


@attrs.define(eq=False)
class _Waiting:
    room_id: str
    event: nio.MegolmEvent


class KeyRequests:
    def __init__(self, session: Session, convert: Callable[[str, Any], Event | None]) -> None:
        self._session = session
        self._client = session.client
        self._convert = convert
        #: session id -> the events waiting for it, oldest first.
        self._waiting: dict[str, list[_Waiting]] = {}
        self._count = 0
        #: Event id -> decrypted late, delivered, not yet acknowledged.
        self._delivered: dict[str, _Waiting] = {}
        self._asked: set[str] = set()
        #: Sessions `decrypt_from_sources` looked for in this sync: `ask` does not look again.
        self._looked: set[str] = set()
        #: Session id -> (when to look in the key sources again, attempts so far).
        self._retry: dict[str, tuple[float, int]] = {}
        self.sources: list[KeySource] = []
        #: Cross-signing: our own devices signed by our identity are trusted.
        self.cross: CrossTrust | None = None
        self._path = session.state.root / _FILE
        self._dirty = False
        self._accept_from_creators()
        self._load()

    # -- what waits, kept across restarts ---------------------------------------------------------

    def _load(self) -> None:
        try:
            entries = json.loads(self._path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable %s: %s", self._path, type(exc).__name__)
            return
        for entry in entries if isinstance(entries, list) else []:
            room_id = entry.get("room_id") if isinstance(entry, dict) else None
            source = entry.get("event") if isinstance(entry, dict) else None
            event = nio.MegolmEvent.from_dict(source) if isinstance(source, dict) else None
            if isinstance(room_id, str) and isinstance(event, nio.MegolmEvent):
                self.missing(room_id, event)
        self._dirty = False

    def _save(self) -> None:
        items = [w for waiting in self._waiting.values() for w in waiting]
        items += self._delivered.values()
        # Only the encrypted events: what the homeserver holds anyway, no keys.
        entries = [{"room_id": w.room_id, "event": w.event.source} for w in items]
        write_private_json(self._path, entries, durable=False)
        self._dirty = False

    def acked(self, event: Event) -> None:
        """The application handled ``event``: a late copy of it no longer needs keeping."""
        if isinstance(event, UndecryptableMessage):
            return
        if self._delivered.pop(event.id, None) is not None:
            self._save()

    def _accept_from_creators(self) -> None:
        """Take a requested key from the device that created its session, too.

        nio takes forwarded keys only from our own verified devices; the
        session's creator proves itself with the Olm channel it sends from
        (the same curve25519 key that made the session), exactly as for the
        ``m.room_key`` it could have sent in the first place.
        """
        olm = self._client.olm
        if olm is None:
            return
        own_devices = olm._should_accept_forward

        def accept(sender: str, sender_key: str, event: Any) -> bool:
            if own_devices(sender, sender_key, event):
                return True
            content = event.source.get("content", {}) if isinstance(event.source, dict) else {}
            request = olm.outgoing_key_requests.get(event.session_id)
            return (
                request is not None
                and request.room_id == event.room_id
                and content.get("sender_key") == sender_key
                and not content.get("forwarding_curve25519_key_chain")
            )

        olm._should_accept_forward = accept

    def missing(self, room_id: str, event: nio.MegolmEvent) -> None:
        """Remember an event delivered as undecryptable, to ask for its key after the sync."""
        if not event.session_id:
            return
        waiting = self._waiting.setdefault(event.session_id, [])
        if any(w.event.event_id == event.event_id for w in waiting):
            return  # delivered again after a restart
        waiting.append(_Waiting(room_id, event))
        self._count += 1
        self._dirty = True
        while self._count > _WAITING:
            oldest = next(iter(self._waiting))
            self._count -= len(self._waiting.pop(oldest))

    async def decrypt_from_sources(self, room_id: str, timeline: list[Any]) -> list[Any]:
        """``timeline`` with the events nio could not decrypt decrypted, where a key source
        (the backup) has their keys.

        Before anything is delivered: a standby that took over an account's events
        lacks the room keys sent to its device while it stood by, and an event the
        previous reader already handled must come in its decrypted form, which the
        client recognises and drops, not as an `UndecryptableMessage` it would not.
        """
        olm = self._client.olm
        if not self.sources or olm is None:
            return timeline
        if not any(isinstance(event, nio.MegolmEvent) for event in timeline):
            return timeline
        found: dict[str, bool] = {}
        decrypted = 0
        result = []
        for event in timeline:
            session_id = event.session_id if isinstance(event, nio.MegolmEvent) else None
            # A session already waiting is looked for on its own schedule (`ask`).
            if session_id and session_id not in self._waiting:
                if session_id not in found:
                    found[session_id] = await self._from_sources(_Waiting(room_id, event))
                    self._looked.add(session_id)
                if found[session_id]:
                    try:
                        event = olm.decrypt_megolm_event(event, room_id)
                        decrypted += 1
                    except nio.EncryptionError as exc:
                        log.debug("a backed-up key did not decrypt %s: %s", event.event_id, exc)
            result.append(event)
        if decrypted:
            sessions = sum(found.values())
            log.debug(
                "decrypted %d events of %d sessions in %s with keys from the backup",
                decrypted,
                sessions,
                room_id,
            )
        return result

    @property
    def waiting(self) -> int:
        return self._count

    async def after_sync(self) -> list[Event]:
        """Messages whose keys came late, decrypted; requests for keys still missing."""
        await self.answer_own()
        events = self.arrived()
        await self.ask()
        # A key source (the backup) may have had some at once.
        return events + self.arrived()

    async def ask(self) -> None:
        """Request the keys of events that wait for one and were not asked for yet."""
        if self._dirty:
            self._save()
        new = [s for s in self._waiting if s not in self._asked]
        if new and self.cross is not None:
            # Forwarded keys are taken from our own devices only once they are trusted.
            try:
                await self.cross.refresh(self._session.user_id)
            except UnimsgError as exc:
                log.debug("checking our own devices failed: %s", exc)
        now = time.monotonic()
        looked, self._looked = self._looked, set()
        for session_id, waiting in list(self._waiting.items()):
            first = waiting[0]
            if session_id in self._asked:
                # Another device may put the key into the backup later.
                due = self._retry.get(session_id)
                if due is not None and now >= due[0] and not await self._from_sources(first):
                    self._schedule(session_id, due[1] + 1, now)
                continue
            self._asked.add(session_id)
            if session_id not in looked and await self._from_sources(first):
                continue
            self._schedule(session_id, 0, now)
            try:
                await self._request(first.room_id, first.event)
            except UnimsgError as exc:
                # Asked again at the next sync.
                self._asked.discard(session_id)
                log.debug("requesting the key of %s failed: %s", session_id, exc)

    async def _from_sources(self, item: _Waiting) -> bool:
        for source in self.sources:
            try:
                if await source.fetch(item.room_id, item.event.session_id, item.event.sender_key):
                    return True
            except UnimsgError as exc:
                log.debug("a key source failed for %s: %s", item.event.session_id, exc)
        return False

    def _schedule(self, session_id: str, attempt: int, now: float) -> None:
        if self.sources and attempt < len(_RETRY):
            self._retry[session_id] = (now + _RETRY[attempt], attempt)
        else:
            self._retry.pop(session_id, None)

    async def _request(self, room_id: str, event: nio.MegolmEvent) -> None:
        olm = self._client.olm
        if olm is None:
            return
        request_id = uuid.uuid4().hex
        content = {
            "action": "request",
            "body": {
                "algorithm": _MEGOLM,
                "room_id": room_id,
                "sender_key": event.sender_key,
                "session_id": event.session_id,
            },
            "request_id": request_id,
            "requesting_device_id": self._session.device_id,
        }
        # Our other devices, and the device that created the session.
        messages: dict[str, dict[str, Any]] = {self._session.user_id: {"*": content}}
        if event.sender != self._session.user_id and event.device_id:
            messages[event.sender] = {event.device_id: content}
        await self._session.request(
            "PUT",
            f"/_matrix/client/v3/sendToDevice/m.room_key_request/{uuid.uuid4().hex}",
            {"messages": messages},
            f"request the key of a message in {room_id}",
        )
        # nio accepts a forwarded key only for a request it knows of.
        request = OutgoingKeyRequest(request_id, event.session_id, room_id, _MEGOLM)
        olm.outgoing_key_requests[event.session_id] = request
        olm.store.add_outgoing_key_request(request)
        log.debug("requested the key of session %s in %s", event.session_id, room_id)

    async def answer_own(self) -> None:
        """Answer key requests of our own devices that cross-signing has since vouched for."""
        olm = self._client.olm
        own = self._session.user_id
        if olm is None or self.cross is None:
            return
        pending = [r for r in olm.key_request_from_untrusted.values() if r.sender == own]
        if not pending:
            return
        try:
            await self.cross.refresh(own)
        except UnimsgError as exc:
            log.debug("checking our own devices failed: %s", exc)
            return
        if any([olm.continue_key_share(request) for request in pending]):
            await self._session.maintain_keys()

    def trusted(self, user_id: str) -> None:
        """Answer the key requests ``user_id``'s devices made before they were trusted.

        Keys they forwarded before we trusted them were refused: ask again.
        """
        olm = self._client.olm
        if olm is None or user_id != self._session.user_id:
            return
        self._asked.clear()
        for device in olm.device_store.active_user_devices(user_id):
            for request in olm.get_active_key_requests(user_id, device.id):
                olm.continue_key_share(request)

    def arrived(self) -> list[Event]:
        """The events whose keys have come since, decrypted, in the order they waited."""
        olm = self._client.olm
        if olm is None:
            return []
        events: list[Event] = []
        for session_id, waiting in list(self._waiting.items()):
            first = waiting[0]
            if (
                olm.inbound_group_store.get(first.room_id, first.event.sender_key, session_id)
                is None
            ):
                continue
            del self._waiting[session_id]
            self._count -= len(waiting)
            self._asked.discard(session_id)
            self._retry.pop(session_id, None)
            self._dirty = True
            for item in waiting:
                try:
                    decrypted = olm.decrypt_megolm_event(item.event, item.room_id)
                except nio.EncryptionError as exc:
                    log.debug("a late key did not decrypt %s: %s", item.event.event_id, exc)
                    continue
                converted = self._convert(item.room_id, decrypted)
                if converted is not None:
                    self._delivered[converted.id] = item
                    events.append(converted)
        if self._dirty:
            self._save()
        return events
