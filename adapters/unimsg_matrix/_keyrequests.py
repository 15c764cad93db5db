"""Late and missing room keys: ask for them, and decrypt what waited once they come.

An event this device cannot decrypt is delivered at once as
`UndecryptableMessage`. Then the adapter asks for its Megolm session
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

import logging
import uuid
from collections.abc import Callable
from typing import Any, Protocol

import attrs
import nio
from nio.crypto.key_request import OutgoingKeyRequest

from unimsg import Event, UnimsgError

from ._backup import BackupKey, KeyBackup
from ._crosstrust import CrossTrust
from ._session import Session

__all__ = ["BackupSource", "KeyRequests", "KeySource"]

log = logging.getLogger("unimsg.matrix")

_MEGOLM = "m.megolm.v1.aes-sha2"
#: Undecryptable events kept waiting for their key; the oldest are given up first.
_WAITING = 2048


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
        return await self._backup.fetch(self._key, room_id, session_id)


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
        self._asked: set[str] = set()
        self.sources: list[KeySource] = []
        #: Cross-signing: our own devices signed by our identity are trusted.
        self.cross: CrossTrust | None = None
        self._accept_from_creators()

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
        self._waiting.setdefault(event.session_id, []).append(_Waiting(room_id, event))
        self._count += 1
        while self._count > _WAITING:
            oldest = next(iter(self._waiting))
            self._count -= len(self._waiting.pop(oldest))

    @property
    def waiting(self) -> int:
        return self._count

    async def ask(self) -> None:
        """Request the keys of events that wait for one and were not asked for yet."""
        new = [s for s in self._waiting if s not in self._asked]
        if new and self.cross is not None:
            # Forwarded keys are taken from our own devices only once they are trusted.
            try:
                await self.cross.refresh(self._session.user_id)
            except UnimsgError as exc:
                log.debug("checking our own devices failed: %s", exc)
        for session_id, waiting in list(self._waiting.items()):
            if session_id in self._asked:
                continue
            self._asked.add(session_id)
            first = waiting[0]
            for source in self.sources:
                try:
                    if await source.fetch(first.room_id, session_id, first.event.sender_key):
                        break
                except UnimsgError as exc:
                    log.debug("a key source failed for %s: %s", session_id, exc)
            else:
                try:
                    await self._request(first.room_id, first.event)
                except UnimsgError as exc:
                    # Asked again at the next sync.
                    self._asked.discard(session_id)
                    log.debug("requesting the key of %s failed: %s", session_id, exc)

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
            for item in waiting:
                try:
                    decrypted = olm.decrypt_megolm_event(item.event, item.room_id)
                except nio.EncryptionError as exc:
                    log.debug("a late key did not decrypt %s: %s", item.event.event_id, exc)
                    continue
                converted = self._convert(item.room_id, decrypted)
                if converted is not None:
                    events.append(converted)
        return events
