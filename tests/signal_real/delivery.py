"""Pre-keys and messages for the service stand-in: what lets two real daemons talk.

Daemons upload their own signed pre-keys (``PUT /v2/keys``); the stand-in hands them out as
bundles (``GET /v2/keys/ACI/DEVICE``), one one-time key per fetch, and turns each
``PUT /v1/messages/ACI`` into envelopes for the recipient's open WebSockets (queued while it
has none). libsignal in the daemons does all the cryptography; the stand-in sees ciphertext.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import protobuf as pb


@dataclass
class _Keys:
    identity_key: str = ""
    registration_id: int = 0
    signed: dict[str, Any] | None = None
    last_resort: dict[str, Any] | None = None
    one_time: list[dict[str, Any]] = field(default_factory=list)
    pq_one_time: list[dict[str, Any]] = field(default_factory=list)


class Mailbox:
    """Keys and queued envelopes of the accounts the stand-in serves, by ACI."""

    def __init__(self, push: Callable[[str, bytes], bool]) -> None:
        #: Delivers an envelope to an account's open WebSockets; False if none is open.
        self._push = push
        self._keys: dict[str, _Keys] = {}
        self._queued: dict[str, list[bytes]] = {}
        self._lock = threading.Lock()
        #: Held while envelopes are handed out or put back, so that the threads of
        #: concurrent requests and WebSockets keep each account's queue in order.
        self._order = threading.Lock()

    def register(self, aci: str, identity_key: str, registration_id: int) -> None:
        with self._lock:
            keys = self._keys.setdefault(aci, _Keys())
            keys.identity_key, keys.registration_id = identity_key, registration_id

    def upload(self, aci: str, body: bytes) -> None:
        state = json.loads(body or b"{}")
        with self._lock:
            keys = self._keys.setdefault(aci, _Keys())
            if state.get("signedPreKey"):
                keys.signed = state["signedPreKey"]
            if state.get("pqLastResortPreKey"):
                keys.last_resort = state["pqLastResortPreKey"]
            keys.one_time.extend(state.get("preKeys") or [])
            keys.pq_one_time.extend(state.get("pqPreKeys") or [])

    def bundle(self, aci: str) -> dict[str, Any] | None:
        with self._lock:
            keys = self._keys.get(aci)
            if keys is None or keys.signed is None:
                return None
            device: dict[str, Any] = {
                "deviceId": 1,
                "registrationId": keys.registration_id,
                "signedPreKey": keys.signed,
                "pqPreKey": keys.pq_one_time.pop(0) if keys.pq_one_time else keys.last_resort,
            }
            if keys.one_time:
                device["preKey"] = keys.one_time.pop(0)
            return {"identityKey": keys.identity_key, "devices": [device]}

    def deliver(self, sender: str | None, destination: str, body: bytes) -> bool:
        """Envelopes for ``destination``'s device 1 (``sender`` None: sealed sender);
        False if it is not served here."""
        if destination not in self._keys:
            return False
        batch = json.loads(body)
        now = int(time.time() * 1000)
        for message in batch.get("messages", []):
            envelope = pb.envelope(
                type=int(message["type"]),
                source_service_id=sender,
                source_device=1,
                timestamp=int(batch.get("timestamp", now)),
                server_timestamp=now,
                server_guid=str(uuid.uuid4()),
                content=base64.b64decode(message["content"]),
                destination_service_id=destination,
            )
            self.enqueue(destination, envelope)
        return True

    def enqueue(self, aci: str, envelope: bytes) -> None:
        with self._lock:
            self._queued.setdefault(aci, []).append(envelope)
        self.flush(aci)

    def requeue(self, aci: str, envelopes: list[bytes]) -> None:
        """Put envelopes pushed but never acknowledged back at the head of the queue.

        Like the service: they were queued before anything queued since, and a
        daemon that reconnects gets them first, in their order.
        """
        with self._order:
            with self._lock:
                self._queued[aci] = envelopes + self._queued.get(aci, [])
            self._flush(aci)

    def flush(self, aci: str) -> None:
        """Hand queued envelopes to ``aci``'s WebSocket, if one is open."""
        with self._order:
            self._flush(aci)

    def _flush(self, aci: str) -> None:
        with self._lock:
            queued, self._queued[aci] = self._queued.get(aci, []), []
        for i, envelope in enumerate(queued):
            if not self._push(aci, envelope):
                with self._lock:
                    self._queued[aci] = queued[i:] + self._queued[aci]
                return
