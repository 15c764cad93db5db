"""Interactive verification (SAS, emoji or decimal) started by another client.

The specification's flow: ``request`` (them), ``ready`` (us), ``start`` (them),
``accept`` (us), ``key`` both ways, the strings are compared, ``mac`` both
ways, ``done`` both ways; sent device to device (a user verifying one device)
or as events in a room the two share (Element's "Verify" on a user's profile),
which relate to the request event. The ``verification`` policy decides whether
the strings match: users on a list are accepted without asking, or an async
callback is shown the emoji and answers.

nio's own SAS lacks the request/ready/done phase, in-room verification and the
cross-signing key in the MAC, and computes MACs in another encoding than the
method it announces, so the protocol runs here (the cryptography in `_sas`)
with nio's handling turned off. A verified master key of another user is
signed with our user-signing key, so their cross-signed devices are trusted.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

import anyio
from anyio.abc import TaskGroup

from unimsg import UnimsgError

from ._crosssigning import query_keys
from ._crosstrust import CrossTrust, published_identity
from ._errors import check, translated
from ._sas import Flow
from ._session import Session
from ._verification_types import SasVerification, VerificationPolicy

__all__ = ["Verifier"]

log = logging.getLogger("unimsg.matrix")

_PREFIX = "m.key.verification."
#: How long a verification may take in all, in seconds (the specification's ten minutes).
_LIFETIME = 600.0
#: How long the policy callback may take to answer, in seconds.
_DECISION_TIMEOUT = 300.0


class Verifier:
    def __init__(
        self,
        session: Session,
        policy: VerificationPolicy,
        cross: CrossTrust | None,
        master_key: Callable[[], str | None],
    ) -> None:
        self._session = session
        self._client = session.client
        self._policy = policy
        self._cross = cross
        self._master_key = master_key
        self._flows: dict[str, Flow] = {}
        self.tasks: TaskGroup | None = None
        olm = self._client.olm
        if olm is not None:
            # nio would answer the same messages with its own, incompatible SAS.
            olm.handle_key_verification = lambda event: None

    def _allowed(self, user_id: str) -> bool:
        if self._policy == "none":
            return False
        if isinstance(self._policy, frozenset):
            return user_id in self._policy
        return callable(self._policy)

    # -- incoming ---------------------------------------------------------------------------------

    async def handle(self, events: list[Any]) -> None:
        """Act on the verification messages of one sync's to-device events."""
        expired = time.monotonic() - _LIFETIME
        for txn in [t for t, flow in self._flows.items() if flow.started_at < expired]:
            del self._flows[txn]
        for event in events:
            source = getattr(event, "source", None)
            if not isinstance(source, dict) or not isinstance(source.get("content"), dict):
                continue
            kind, txn = source.get("type"), source["content"].get("transaction_id")
            if isinstance(kind, str) and kind.startswith(_PREFIX) and isinstance(txn, str):
                await self._dispatch(kind.removeprefix(_PREFIX), source, txn, None)

    async def room_event(self, room_id: str, event: Any) -> bool:
        """Act on an in-room verification event; whether it was one (not for the application)."""
        source = getattr(event, "source", None)
        if not isinstance(source, dict) or not isinstance(source.get("content"), dict):
            return False
        content, kind = source["content"], source.get("type")
        if kind == "m.room.message" and content.get("msgtype") == _PREFIX + "request":
            step, txn = "request", source.get("event_id")
            if content.get("to") != self._session.user_id:
                return True  # a verification between other people
            age = time.time() * 1000 - source.get("origin_server_ts", 0)
            if age > _LIFETIME * 1000:
                return True  # an old request found in the history
        elif isinstance(kind, str) and kind.startswith(_PREFIX):
            step = kind.removeprefix(_PREFIX)
            relates = content.get("m.relates_to")
            txn = relates.get("event_id") if isinstance(relates, dict) else None
        else:
            return False
        if source.get("sender") != self._session.user_id and isinstance(txn, str):
            await self._dispatch(step, source, txn, room_id)
        return True

    async def _dispatch(
        self, step: str, source: dict[str, Any], txn: str, room_id: str | None
    ) -> None:
        sender, content = source.get("sender"), source["content"]
        if not isinstance(sender, str):
            return
        try:
            await self._step(step, sender, content, txn, room_id)
        except UnimsgError as exc:
            log.warning("a verification step with %s failed: %s", sender, exc)

    async def _step(
        self, step: str, sender: str, content: dict[str, Any], txn: str, room_id: str | None
    ) -> None:
        flow = self._flows.get(txn)
        if step in ("request", "start") and flow is None:
            flow = await self._open(sender, content, txn, room_id, request=step == "request")
            if flow is None or step == "request":
                return
        if flow is None or flow.user_id != sender or flow.room_id != room_id:
            return
        if step == "start":
            await self._on_start(flow, content)
        elif step == "key":
            await self._on_key(flow, content)
        elif step == "mac":
            await self._on_mac(flow, content)
        elif step == "cancel":
            self._flows.pop(txn, None)
            log.info("%s cancelled verification %s: %s", sender, txn, content.get("reason"))
        elif step == "done" and flow.done_sent:
            self._flows.pop(txn, None)

    async def _device(self, user_id: str, device_id: str) -> Any:
        olm = self._client.olm
        if olm is None:
            return None
        for attempt in range(2):
            for device in olm.device_store.active_user_devices(user_id):
                if device.id == device_id:
                    return device
            if attempt == 0:
                olm.users_for_key_query.add(user_id)
                await self._session.maintain_keys()
        return None

    async def _open(
        self, sender: str, content: dict[str, Any], txn: str, room_id: str | None, *, request: bool
    ) -> Flow | None:
        """A new verification (a request, or a start without one from older clients)."""
        device_id = content.get("from_device")
        if not isinstance(device_id, str):
            return None
        flow = Flow(txn, sender, device_id, "", room_id)
        methods = content.get("methods") if request else ["m.sas.v1"]
        if not self._allowed(sender):
            await self._fail(flow, "m.user", "verification is not accepted")
            return None
        if not isinstance(methods, list) or "m.sas.v1" not in methods:
            await self._fail(flow, "m.unknown_method", "only m.sas.v1 is supported")
            return None
        device = await self._device(sender, device_id)
        if device is None:
            await self._fail(flow, "m.unknown_device", "unknown device")
            return None
        flow.ed25519 = device.ed25519
        self._flows[txn] = flow
        if request:
            ready = {"from_device": self._session.device_id, "methods": ["m.sas.v1"]}
            await self._send(flow, "ready", ready)
            log.info("verification %s requested by %s (%s): ready", txn, sender, device_id)
        return flow

    async def _on_start(self, flow: Flow, content: dict[str, Any]) -> None:
        if content.get("from_device") != flow.device_id or flow.start is not None:
            await self._fail(flow, "m.unexpected_message", "unexpected start")
            return
        accept = flow.accept(content)
        if accept is None:
            await self._fail(flow, "m.unknown_method", "no common SAS method")
            return
        await self._send(flow, "accept", accept)

    async def _on_key(self, flow: Flow, content: dict[str, Any]) -> None:
        key = content.get("key")
        if flow.start is None or flow.established is not None or not isinstance(key, str):
            await self._fail(flow, "m.unexpected_message", "unexpected key")
            return
        shown = flow.establish(key, self._session.user_id, self._session.device_id)
        if shown is None:
            await self._fail(flow, "m.invalid_message", "not a Curve25519 key")
            return
        await self._send(flow, "key", {"key": flow.public_key})
        if self.tasks is None:
            await self._decide(flow, shown)
        else:
            # A person may take minutes to compare; the sync loop goes on meanwhile.
            self.tasks.start_soon(self._decide, flow, shown)

    async def _decide(self, flow: Flow, shown: SasVerification) -> None:
        policy = self._policy
        try:
            if isinstance(policy, frozenset):
                matches = flow.user_id in policy
            elif callable(policy):
                with anyio.fail_after(_DECISION_TIMEOUT):
                    matches = bool(await policy(shown))
            else:
                matches = False
        except TimeoutError:
            matches = False
        except Exception as exc:
            log.warning("the verification callback failed: %s", type(exc).__name__)
            matches = False
        try:
            if not matches:
                await self._fail(
                    flow, "m.mismatched_sas", "the short authentication strings differ"
                )
                return
            flow.confirmed = True
            olm = self._client.olm
            assert olm is not None
            own = olm.account.identity_keys["ed25519"]
            mac = flow.our_mac(
                self._session.user_id, self._session.device_id, own, self._master_key()
            )
            await self._send(flow, "mac", mac)
            await self._finish(flow)
        except UnimsgError as exc:
            log.warning("verification with %s failed: %s", flow.user_id, exc)

    async def _on_mac(self, flow: Flow, content: dict[str, Any]) -> None:
        identity = published_identity(await query_keys(self._session, flow.user_id), flow.user_id)
        master = identity[0] if identity is not None else None
        failure = flow.check_mac(content, self._session.user_id, self._session.device_id, master)
        if failure is not None:
            await self._fail(flow, "m.key_mismatch", failure)
            return
        await self._finish(flow)

    async def _finish(self, flow: Flow) -> None:
        """Once both sides confirmed: trust their device (and identity), say done."""
        if not (flow.confirmed and flow.their_mac_ok) or flow.done_sent:
            return
        flow.done_sent = True
        olm = self._client.olm
        device = await self._device(flow.user_id, flow.device_id)
        if olm is not None and device is not None:
            olm.verify_device(device)
        master, cross = flow.their_master, self._cross
        if master is not None and cross is not None and flow.user_id != self._session.user_id:
            await cross.sign_user(flow.user_id, master)
            await cross.refresh(flow.user_id)
        await self._send(flow, "done", {})
        log.info("verified %s (device %s) interactively", flow.user_id, flow.device_id)

    # -- outgoing ---------------------------------------------------------------------------------

    async def _fail(self, flow: Flow, code: str, reason: str) -> None:
        self._flows.pop(flow.transaction_id, None)
        log.info(
            "cancelling verification %s with %s: %s", flow.transaction_id, flow.user_id, reason
        )
        await self._send(flow, "cancel", {"code": code, "reason": reason})

    async def _send(self, flow: Flow, step: str, content: dict[str, Any]) -> None:
        kind, txn = _PREFIX + step, flow.transaction_id
        if flow.room_id is None:
            await self._session.request(
                "PUT",
                f"/_matrix/client/v3/sendToDevice/{kind}/{uuid.uuid4().hex}",
                {"messages": {flow.user_id: {flow.device_id: {**content, "transaction_id": txn}}}},
                f"send {kind} to {flow.user_id}",
            )
            return
        content = {**content, "m.relates_to": {"rel_type": "m.reference", "event_id": txn}}
        room = self._client.rooms.get(flow.room_id)
        olm = self._client.olm
        if room is not None and room.encrypted and olm is not None:
            olm.update_tracked_users(room)
            await self._session.maintain_keys()
        action = f"send {kind} to {flow.room_id}"
        with translated(action):
            # The other side's devices need it whether or not we verified them yet.
            response = await self._client.room_send(
                flow.room_id, kind, content, ignore_unverified_devices=True
            )
        check(response, action)
