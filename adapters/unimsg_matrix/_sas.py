"""One SAS verification's cryptography: commitment, short strings, MACs (m.sas.v1).

We are always the side that accepts (the other client starts), with the key
agreement ``curve25519-hkdf-sha256`` and the MAC method ``hkdf-hmac-sha256.v2``
when offered (``hkdf-hmac-sha256``, with its historical base64, otherwise).
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import Any

import attrs
import vodozemac
from nio.crypto.sas import Sas as NioSas

from unimsg import Address

from ._verification_types import SasVerification

__all__ = ["Flow"]

_AGREEMENT = "curve25519-hkdf-sha256"
_MACS = ("hkdf-hmac-sha256.v2", "hkdf-hmac-sha256")
#: The specification's names where nio's emoji table differs (Element shows these).
_EMOJI = [
    (symbol, {34: "Spanner", 36: "Thumbs Up", 53: "Aeroplane"}.get(index, name))
    for index, (symbol, name) in enumerate(NioSas.emoji)
]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def _mac_info(user: str, device: str, other_user: str, other_device: str, txn: str) -> str:
    return f"MATRIX_KEY_VERIFICATION_MAC{user}{device}{other_user}{other_device}{txn}"


def _canonical(content: dict[str, Any]) -> str:
    return json.dumps(content, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


@attrs.define(eq=False)
class Flow:
    """A verification with one device of another user, by transaction id."""

    transaction_id: str
    user_id: str
    device_id: str
    ed25519: str
    #: The room of an in-room verification; None for one sent device to device.
    room_id: str | None = None
    sas: vodozemac.Sas = attrs.Factory(vodozemac.Sas)
    start: dict[str, Any] | None = None
    mac_method: str = _MACS[0]
    established: vodozemac.EstablishedSas | None = None
    confirmed: bool = False
    their_mac_ok: bool = False
    their_master: str | None = None
    done_sent: bool = False
    started_at: float = attrs.Factory(time.monotonic)

    def accept(self, start: dict[str, Any]) -> dict[str, Any] | None:
        """The ``accept`` content for their ``start``; None if we share no method."""
        macs = [m for m in _MACS if m in start.get("message_authentication_codes", [])]
        offered = start.get("short_authentication_string", [])
        strings = [s for s in ("emoji", "decimal") if s in offered]
        if (
            start.get("method") != "m.sas.v1"
            or _AGREEMENT not in start.get("key_agreement_protocols", [])
            or "sha256" not in start.get("hashes", [])
            or not macs
            or not strings
        ):
            return None
        self.start, self.mac_method = start, macs[0]
        public = self.sas.public_key.to_base64()
        commitment = _b64(hashlib.sha256((public + _canonical(start)).encode()).digest())
        return {
            "method": "m.sas.v1",
            "key_agreement_protocol": _AGREEMENT,
            "hash": "sha256",
            "message_authentication_code": self.mac_method,
            "short_authentication_string": strings,
            "commitment": commitment,
        }

    @property
    def public_key(self) -> str:
        return self.sas.public_key.to_base64()

    def establish(self, their_key: str, own_user: str, own_device: str) -> SasVerification | None:
        """Agree on the secret with their key; what both sides now show (None: not a key)."""
        try:
            key = vodozemac.Curve25519PublicKey.from_base64(their_key)
            self.established = self.sas.diffie_hellman(key)
        except (vodozemac.KeyException, ValueError):
            return None
        me = f"{own_user}|{own_device}|{self.public_key}"
        them = f"{self.user_id}|{self.device_id}|{their_key}"
        data = self.established.bytes(
            f"MATRIX_KEY_VERIFICATION_SAS|{them}|{me}|{self.transaction_id}"
        )
        first, second, third = data.decimals
        return SasVerification(
            user=Address.matrix(self.user_id),
            device_id=self.device_id,
            emoji=tuple(_EMOJI[i] for i in data.emoji_indices),
            decimals=(first, second, third),
        )

    def _mac(self, value: str, info: str) -> str:
        assert self.established is not None
        if self.mac_method == "hkdf-hmac-sha256":
            return self.established.calculate_mac_invalid_base64(value, info)
        return self.established.calculate_mac(value, info)

    def our_mac(
        self, own_user: str, own_device: str, own_ed25519: str, master: str | None
    ) -> dict[str, Any]:
        """The ``mac`` content: our device key and, with cross-signing, our master key."""
        info = _mac_info(own_user, own_device, self.user_id, self.device_id, self.transaction_id)
        keys = {f"ed25519:{own_device}": own_ed25519}
        if master is not None:
            keys[f"ed25519:{master}"] = master
        mac = {key_id: self._mac(key, info + key_id) for key_id, key in keys.items()}
        return {"mac": mac, "keys": self._mac(",".join(sorted(mac)), info + "KEY_IDS")}

    def check_mac(
        self, content: dict[str, Any], own_user: str, own_device: str, master: str | None
    ) -> str | None:
        """Check their ``mac`` against their device key and master key; why it fails, or None."""
        mac, keys = content.get("mac"), content.get("keys")
        if self.established is None or not isinstance(mac, dict) or not isinstance(keys, str):
            return "unexpected mac"
        info = _mac_info(self.user_id, self.device_id, own_user, own_device, self.transaction_id)
        if self._mac(",".join(sorted(mac)), info + "KEY_IDS") != keys:
            return "the key list does not match"
        known = {f"ed25519:{self.device_id}": self.ed25519}
        if master is not None:
            known[f"ed25519:{master}"] = master
        for key_id, value in mac.items():
            key = known.get(key_id)
            # Keys we do not know of are not verified, and not a failure either.
            if key is not None and self._mac(key, info + key_id) != value:
                return f"the MAC of {key_id} does not match"
        if f"ed25519:{self.device_id}" not in mac:
            return "their device key was not covered"
        self.their_mac_ok = True
        self.their_master = master if f"ed25519:{master}" in mac else None
        return None
