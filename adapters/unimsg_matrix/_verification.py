"""Interactive verification (SAS, emoji or decimal) started by another client.

The specification's flow, device to device: ``request`` (them), ``ready`` (us),
``start`` (them), ``accept`` (us), ``key`` both ways, the strings are compared,
``mac`` both ways, ``done`` both ways. The ``verification`` policy decides
whether the strings match: users on a list are accepted without asking, or an
async callback is shown the emoji and answers. nio's own SAS lacks the
request/ready/done phase and the cross-signing key in the MAC, and computes MACs
in another encoding than the method it announces, so the protocol runs here, on
vodozemac's SAS primitive and nio's emoji table, with nio's handling turned off.
MACs cover the master keys both ways; a verified master key of another user is
signed with our user-signing key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

import anyio
import attrs
import vodozemac
from anyio.abc import TaskGroup
from nio.crypto.sas import Sas as NioSas

from unimsg import Address, UnimsgError

from ._crosssigning import query_keys
from ._crosstrust import CrossTrust, published_identity
from ._session import Session
from ._verification_types import SasVerification, VerificationPolicy

__all__ = ["Verifier"]

log = logging.getLogger("unimsg.matrix")

_PREFIX = "m.key.verification."
_AGREEMENT = "curve25519-hkdf-sha256"
_MACS = ("hkdf-hmac-sha256.v2", "hkdf-hmac-sha256")
#: The specification's names where nio's emoji table differs (Element shows these).
_EMOJI = [
    (symbol, {34: "Spanner", 36: "Thumbs Up", 53: "Aeroplane"}.get(index, name))
    for index, (symbol, name) in enumerate(NioSas.emoji)
]
#: How long a verification may take in all, in seconds.
_LIFETIME = 600.0
#: How long the policy callback may take to answer, in seconds.
_DECISION_TIMEOUT = 300.0


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def _mac_info(user: str, device: str, other_user: str, other_device: str, txn: str) -> str:
    return f"MATRIX_KEY_VERIFICATION_MAC{user}{device}{other_user}{other_device}{txn}"


def _canonical(content: dict[str, Any]) -> str:
    return json.dumps(content, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


@attrs.define(eq=False)
class _Flow:
    transaction_id: str
    user_id: str
    device_id: str
    ed25519: str
    sas: vodozemac.Sas = attrs.Factory(vodozemac.Sas)
    start: dict[str, Any] | None = None
    mac_method: str = _MACS[0]
    established: vodozemac.EstablishedSas | None = None
    their_key: str = ""
    confirmed: bool = False
    their_mac_ok: bool = False
    their_master: str | None = None
    done_sent: bool = False
    started_at: float = attrs.Factory(time.monotonic)


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
        self._flows: dict[str, _Flow] = {}
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
        # The specification lets either side give up after ten minutes.
        expired = time.monotonic() - _LIFETIME
        for txn in [t for t, flow in self._flows.items() if flow.started_at < expired]:
            del self._flows[txn]
        for event in events:
            source = getattr(event, "source", None)
            if not isinstance(source, dict):
                continue
            kind, content = source.get("type"), source.get("content")
            sender = source.get("sender")
            if not isinstance(kind, str) or not kind.startswith(_PREFIX):
                continue
            if not isinstance(content, dict) or not isinstance(sender, str):
                continue
            try:
                await self._handle(kind.removeprefix(_PREFIX), sender, content)
            except UnimsgError as exc:
                log.warning("a verification step with %s failed: %s", sender, exc)

    async def _handle(self, step: str, sender: str, content: dict[str, Any]) -> None:
        txn = content.get("transaction_id")
        if not isinstance(txn, str):
            return
        flow = self._flows.get(txn)
        if step == "request":
            await self._on_request(txn, sender, content)
        elif step == "start":
            await self._on_start(txn, sender, content, flow)
        elif flow is None or flow.user_id != sender:
            return
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

    async def _on_request(self, txn: str, sender: str, content: dict[str, Any]) -> None:
        device_id = content.get("from_device")
        methods = content.get("methods")
        if not isinstance(device_id, str) or not isinstance(methods, list):
            return
        if not self._allowed(sender):
            await self._cancel(sender, device_id, txn, "m.user", "verification is not accepted")
            return
        if "m.sas.v1" not in methods:
            await self._cancel(sender, device_id, txn, "m.unknown_method", "only m.sas.v1")
            return
        device = await self._device(sender, device_id)
        if device is None:
            await self._cancel(sender, device_id, txn, "m.unknown_device", "unknown device")
            return
        self._flows[txn] = _Flow(txn, sender, device_id, device.ed25519)
        await self._send(
            "ready",
            sender,
            device_id,
            {
                "from_device": self._session.device_id,
                "methods": ["m.sas.v1"],
                "transaction_id": txn,
            },
        )
        log.info("verification %s requested by %s (%s): ready", txn, sender, device_id)

    async def _on_start(
        self, txn: str, sender: str, content: dict[str, Any], flow: _Flow | None
    ) -> None:
        device_id = content.get("from_device")
        if not isinstance(device_id, str):
            return
        if flow is None:
            # A start without a request (older clients).
            if not self._allowed(sender):
                await self._cancel(sender, device_id, txn, "m.user", "verification is not accepted")
                return
            device = await self._device(sender, device_id)
            if device is None:
                await self._cancel(sender, device_id, txn, "m.unknown_device", "unknown device")
                return
            flow = self._flows[txn] = _Flow(txn, sender, device_id, device.ed25519)
        if flow.user_id != sender or flow.device_id != device_id or flow.start is not None:
            await self._fail(flow, "m.unexpected_message", "unexpected start")
            return
        macs = [m for m in _MACS if m in content.get("message_authentication_codes", [])]
        strings = [
            s for s in ("emoji", "decimal") if s in content.get("short_authentication_string", [])
        ]
        if (
            content.get("method") != "m.sas.v1"
            or _AGREEMENT not in content.get("key_agreement_protocols", [])
            or "sha256" not in content.get("hashes", [])
            or not macs
            or not strings
        ):
            await self._fail(flow, "m.unknown_method", "no common SAS method")
            return
        flow.start, flow.mac_method = content, macs[0]
        public = flow.sas.public_key.to_base64()
        commitment = _b64(hashlib.sha256((public + _canonical(content)).encode()).digest())
        await self._send(
            "accept",
            flow.user_id,
            flow.device_id,
            {
                "transaction_id": txn,
                "method": "m.sas.v1",
                "key_agreement_protocol": _AGREEMENT,
                "hash": "sha256",
                "message_authentication_code": flow.mac_method,
                "short_authentication_string": strings,
                "commitment": commitment,
            },
        )

    async def _on_key(self, flow: _Flow, content: dict[str, Any]) -> None:
        key = content.get("key")
        if flow.start is None or flow.established is not None or not isinstance(key, str):
            await self._fail(flow, "m.unexpected_message", "unexpected key")
            return
        try:
            flow.established = flow.sas.diffie_hellman(
                vodozemac.Curve25519PublicKey.from_base64(key)
            )
        except (vodozemac.KeyException, ValueError):
            await self._fail(flow, "m.invalid_message", "not a Curve25519 key")
            return
        flow.their_key = key
        ours = flow.sas.public_key.to_base64()
        await self._send(
            "key",
            flow.user_id,
            flow.device_id,
            {"transaction_id": flow.transaction_id, "key": ours},
        )
        me = f"{self._session.user_id}|{self._session.device_id}|{ours}"
        them = f"{flow.user_id}|{flow.device_id}|{key}"
        info = f"MATRIX_KEY_VERIFICATION_SAS|{them}|{me}|{flow.transaction_id}"
        data = flow.established.bytes(info)
        shown = SasVerification(
            user=Address.matrix(flow.user_id),
            device_id=flow.device_id,
            emoji=tuple(_EMOJI[i] for i in data.emoji_indices),
            decimals=tuple(data.decimals),  # type: ignore[arg-type]
        )
        if self.tasks is None:
            await self._decide(flow, shown)
        else:
            self.tasks.start_soon(self._decide, flow, shown)

    async def _decide(self, flow: _Flow, shown: SasVerification) -> None:
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
            await self._fail(flow, "m.timeout", "no answer")
            return
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
            await self._send_mac(flow)
            await self._finish(flow)
        except UnimsgError as exc:
            log.warning("verification with %s failed: %s", flow.user_id, exc)

    def _mac(self, flow: _Flow, value: str, info: str) -> str:
        assert flow.established is not None
        if flow.mac_method == "hkdf-hmac-sha256":
            return flow.established.calculate_mac_invalid_base64(value, info)
        return flow.established.calculate_mac(value, info)

    async def _send_mac(self, flow: _Flow) -> None:
        olm = self._client.olm
        assert olm is not None
        me, device = self._session.user_id, self._session.device_id
        info = _mac_info(me, device, flow.user_id, flow.device_id, flow.transaction_id)
        keys = {f"ed25519:{device}": olm.account.identity_keys["ed25519"]}
        master = self._master_key()
        if master is not None:
            keys[f"ed25519:{master}"] = master
        mac = {key_id: self._mac(flow, key, info + key_id) for key_id, key in keys.items()}
        content = {
            "transaction_id": flow.transaction_id,
            "mac": mac,
            "keys": self._mac(flow, ",".join(sorted(mac)), info + "KEY_IDS"),
        }
        await self._send("mac", flow.user_id, flow.device_id, content)

    async def _on_mac(self, flow: _Flow, content: dict[str, Any]) -> None:
        mac, keys = content.get("mac"), content.get("keys")
        if flow.established is None or not isinstance(mac, dict) or not isinstance(keys, str):
            await self._fail(flow, "m.unexpected_message", "unexpected mac")
            return
        me, device = self._session.user_id, self._session.device_id
        info = _mac_info(flow.user_id, flow.device_id, me, device, flow.transaction_id)
        if self._mac(flow, ",".join(sorted(mac)), info + "KEY_IDS") != keys:
            await self._fail(flow, "m.key_mismatch", "the key list does not match")
            return
        published = await query_keys(self._session, flow.user_id)
        identity = published_identity(published, flow.user_id)
        master = identity[0] if identity is not None else None
        known = {f"ed25519:{flow.device_id}": flow.ed25519}
        if master is not None:
            known[f"ed25519:{master}"] = master
        for key_id, value in mac.items():
            key = known.get(key_id)
            # Keys we do not know of are not verified, and not a failure either.
            if key is not None and self._mac(flow, key, info + key_id) != value:
                await self._fail(flow, "m.key_mismatch", f"the MAC of {key_id} does not match")
                return
        if f"ed25519:{flow.device_id}" not in mac:
            await self._fail(flow, "m.key_mismatch", "their device key was not covered")
            return
        flow.their_mac_ok = True
        flow.their_master = master if f"ed25519:{master}" in mac else None
        await self._finish(flow)

    async def _finish(self, flow: _Flow) -> None:
        """Once both sides confirmed: trust their device (and identity), say done."""
        if not (flow.confirmed and flow.their_mac_ok) or flow.done_sent:
            return
        flow.done_sent = True
        olm = self._client.olm
        device = await self._device(flow.user_id, flow.device_id)
        if olm is not None and device is not None:
            olm.verify_device(device)
        if (
            flow.their_master is not None
            and self._cross is not None
            and flow.user_id != self._session.user_id
        ):
            await self._cross.sign_user(flow.user_id, flow.their_master)
            await self._cross.refresh(flow.user_id)
        await self._send(
            "done", flow.user_id, flow.device_id, {"transaction_id": flow.transaction_id}
        )
        log.info("verified %s (device %s) interactively", flow.user_id, flow.device_id)

    # -- outgoing ---------------------------------------------------------------------------------

    async def _fail(self, flow: _Flow, code: str, reason: str) -> None:
        self._flows.pop(flow.transaction_id, None)
        await self._cancel(flow.user_id, flow.device_id, flow.transaction_id, code, reason)

    async def _cancel(self, user_id: str, device_id: str, txn: str, code: str, reason: str) -> None:
        log.info("cancelling verification %s with %s: %s", txn, user_id, reason)
        await self._send(
            "cancel", user_id, device_id, {"transaction_id": txn, "code": code, "reason": reason}
        )

    async def _send(self, step: str, user_id: str, device_id: str, content: dict[str, Any]) -> None:
        kind = _PREFIX + step
        await self._session.request(
            "PUT",
            f"/_matrix/client/v3/sendToDevice/{kind}/{uuid.uuid4().hex}",
            {"messages": {user_id: {device_id: content}}},
            f"send {kind} to {user_id}",
        )
