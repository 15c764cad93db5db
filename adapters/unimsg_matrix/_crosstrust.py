"""Trust from cross-signing: devices signed by their owner's verified identity.

nio knows only per-device verification. A device signed by its owner's
self-signing key, whose master key is ours or one we verified (signed with our
user-signing key), is marked verified in nio's store, so that nio shares room
keys with it, accepts keys it forwards and the ``"strict"`` policy trusts it.
"""

from __future__ import annotations

import logging
from typing import Any

from unimsg import Address, RemoteError, UnverifiedDevicesError

from ._crosssigning import SIGNATURES_UPLOAD, public_key_of, query_keys, signed_by
from ._identity import Identity
from ._session import Session

__all__ = ["CrossTrust", "published_identity"]

log = logging.getLogger("unimsg.matrix")


def published_identity(published: dict[str, Any], user_id: str) -> tuple[str, str] | None:
    """``user_id``'s (master, self-signing) public keys, if the second is signed by the first."""
    master_object = published.get("master_keys", {}).get(user_id)
    ssk_object = published.get("self_signing_keys", {}).get(user_id)
    master, ssk = public_key_of(master_object), public_key_of(ssk_object)
    if master is None or ssk is None or not isinstance(ssk_object, dict):
        return None
    if not signed_by(ssk_object, user_id, master, master):
        return None
    return master, ssk


class CrossTrust:
    def __init__(self, session: Session, identity: Identity) -> None:
        self._session = session
        self._identity = identity

    def _trusted_master(self, published: dict[str, Any], user_id: str, master: str) -> bool:
        keys = self._identity.keys
        if keys is None:
            return False
        if user_id == self._session.user_id:
            return master == keys.master.public
        master_object = published.get("master_keys", {}).get(user_id, {})
        usk = keys.user_signing.public
        return signed_by(master_object, self._session.user_id, usk, usk)

    async def master_of(self, user_id: str) -> str | None:
        """``user_id``'s published master key, if their self-signing key carries its signature."""
        identity = published_identity(await query_keys(self._session, user_id), user_id)
        return identity[0] if identity is not None else None

    async def refresh(self, user_id: str) -> set[str]:
        """Mark ``user_id``'s cross-signed devices verified in nio; their ids."""
        olm = self._session.client.olm
        if olm is None:
            return set()
        published = await query_keys(self._session, user_id)
        identity = published_identity(published, user_id)
        if identity is None or not self._trusted_master(published, user_id, identity[0]):
            return set()
        ssk = identity[1]
        signed: set[str] = set()
        for device_id, device in published.get("device_keys", {}).get(user_id, {}).items():
            if not isinstance(device, dict) or not signed_by(device, user_id, ssk, ssk):
                continue
            known = next(
                (d for d in olm.device_store.active_user_devices(user_id) if d.id == device_id),
                None,
            )
            # Only the keys nio holds for that device, never keys that changed under its id.
            if known is None or device.get("keys", {}).get(f"ed25519:{device_id}") != known.ed25519:
                continue
            if not olm.is_device_verified(known):
                olm.verify_device(known)
                log.debug("trusting cross-signed device %s of %s", device_id, user_id)
            signed.add(device_id)
        return signed

    async def sign_user(self, user_id: str, master: str) -> None:
        """Verify ``user_id``'s identity: sign their master key with our user-signing key."""
        keys = self._identity.keys
        assert keys is not None
        published = await query_keys(self._session, user_id)
        master_object = published.get("master_keys", {}).get(user_id)
        if not isinstance(master_object, dict) or public_key_of(master_object) != master:
            raise UnverifiedDevicesError(
                f"{user_id}'s cross-signing identity is no longer {master}; nothing was trusted",
                [Address.matrix(user_id)],
            )
        body = {k: v for k, v in master_object.items() if k not in ("signatures", "unsigned")}
        signed = keys.user_signing.sign(body, self._session.user_id)
        await _upload_signature(self._session, user_id, master, signed)
        log.info("verified the identity of %s (master key %s)", user_id, master)


async def _upload_signature(
    session: Session, user_id: str, key_id: str, signed: dict[str, Any]
) -> None:
    what = f"the identity of {user_id}"
    answer = await session.request(
        "POST", SIGNATURES_UPLOAD, {user_id: {key_id: signed}}, f"sign {what}"
    )
    if answer.get("failures"):
        raise RemoteError(f"the homeserver refused the signature of {what}")
