"""The trust policy: which members' devices we encrypt for without asking.

- ``"strict"``: every device of every member (our own other devices included)
  must be verified; otherwise sending refuses with `UnverifiedDevicesError`
  naming the users. ``MatrixAdapter.trust_devices(user)`` verifies a user's
  current devices once the application compared their fingerprints
  (``MatrixAdapter.devices(user)``) out of band.
- ``"tofu"`` (trust on first use): the devices a user has when we first see
  any of them are pinned. A device that appears later for an already pinned
  user makes that user *changed*: sending refuses until the application
  accepts the new devices with ``MatrixAdapter.trust_devices(user)``. A
  device whose keys change under the same id is never accepted (nio keeps the
  first keys it saw).
- ``"always"``: encrypt for every device, verified or not.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import nio

from unimsg import Address, UnverifiedDevicesError

from ._config import TrustPolicy
from ._store import StateStore

if TYPE_CHECKING:
    from ._identity import Identity

__all__ = ["Trust"]


class Trust:
    def __init__(
        self,
        client: nio.AsyncClient,
        state: StateStore,
        policy: TrustPolicy,
        identity: Identity | None = None,
    ) -> None:
        self._client = client
        self._state = state
        self.policy = policy
        self._identity = identity

    @property
    def own_device_verified(self) -> bool:
        """Whether our device carries our self-signing key's signature on the server."""
        return self._identity is not None and self._identity.device_signed

    def _devices(self, user_id: str) -> dict[str, str]:
        olm = self._client.olm
        if olm is None:
            return {}
        return {
            device.id: device.ed25519
            for device in olm.device_store.active_user_devices(user_id)
            if device.id != self._client.device_id
        }

    def _unverified(self, user_id: str) -> bool:
        olm = self._client.olm
        if olm is None:
            return False
        return any(
            not olm.is_device_verified(device)
            for device in olm.device_store.active_user_devices(user_id)
            if device.id != self._client.device_id
        )

    def assess(self, users: Iterable[str]) -> tuple[list[str], list[str]]:
        """(users with unverified devices, users whose devices changed since pinned)."""
        unverified: list[str] = []
        changed: list[str] = []
        pinned_any = False
        for user in sorted(set(users)):
            if self._unverified(user):
                unverified.append(user)
            devices = self._devices(user)
            pins = self._state.pins.get(user)
            if pins is None:
                if devices and self.policy == "tofu":
                    self._state.pins[user] = devices
                    pinned_any = True
                continue
            if any(pins.get(device_id) != key for device_id, key in devices.items()):
                changed.append(user)
        if pinned_any:
            self._state.save()
        return unverified, changed

    def changed_users(self, users: Iterable[str]) -> list[str]:
        return self.assess(users)[1]

    def check(self, room_id: str, users: Iterable[str]) -> bool:
        """Raise if the policy refuses ``users``; else whether to skip nio's verification."""
        if self.policy == "always":
            return True
        unverified, changed = self.assess(users)
        blocked = unverified if self.policy == "strict" else changed
        if blocked:
            why = (
                "have devices this account has not verified"
                if self.policy == "strict"
                else "added or changed devices since they were first seen"
            )
            fix = (
                "verify them, or use trust_policy='tofu' or 'always'"
                if self.policy == "strict"
                else "accept them with MatrixAdapter.trust_devices(user)"
            )
            raise UnverifiedDevicesError(
                f"{', '.join(blocked)} in {room_id} {why}: {fix}",
                [Address.matrix(user) for user in blocked],
            )
        # tofu trusts what it pinned without nio-level verification.
        return self.policy == "tofu"

    def devices(self, user_id: str) -> dict[str, str]:
        """``user_id``'s devices as far as we know: device id -> Ed25519 fingerprint."""
        return self._devices(user_id)

    def pin(self, user_id: str) -> None:
        """Take ``user_id``'s current devices as the pinned ones (trust on first use)."""
        self._state.pins[user_id] = self._devices(user_id)
        self._state.save()

    def accept(self, user_id: str) -> None:
        """Pin and verify ``user_id``'s current devices (the application has checked them)."""
        olm = self._client.olm
        if olm is not None:
            for device in olm.device_store.active_user_devices(user_id):
                if device.id != self._client.device_id:
                    olm.verify_device(device)
        self._state.pins[user_id] = self._devices(user_id)
        self._state.save()
