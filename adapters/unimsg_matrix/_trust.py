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

A room's verdict is kept until something it depends on changes: the room's
members (compared on every send), or a generation counter that every change
to devices, their verification or the pins bumps. Device lists and
verification live in nio's ``Olm``; its methods that change them are wrapped
on the instance (nio has no change notification), so that nio's own paths
(a keys query's answer, a verification nio completes) count as well as ours.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import nio

from unimsg import Address, UnverifiedDevicesError

from ._config import TrustPolicy
from ._store import StateStore

if TYPE_CHECKING:
    from ._identity import Identity

__all__ = ["Trust"]

#: ``Olm`` methods that change a device list (``handle_response`` processes keys
#: query answers) or a device's verification, blacklisting or ignoring.
_CHANGES_DEVICES = (
    "handle_response",
    "verify_device",
    "unverify_device",
    "blacklist_device",
    "unblacklist_device",
    "ignore_device",
    "unignore_device",
)


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
        self._generation = 0
        self._watched: Any = None
        #: room id -> (generation, policy, olm, members, verdict) of a check that let
        #: sends through; refusals are not kept.
        self._verdicts: dict[str, tuple[int, TrustPolicy, Any, frozenset[str], bool]] = {}
        self._watch()

    def invalidate(self) -> None:
        """Forget every verdict: the next send in each room checks its members again."""
        self._generation += 1

    def _watch(self) -> Any:
        """The client's ``Olm``, its device-changing methods counted by ``invalidate``."""
        olm = self._client.olm
        if olm is not None and olm is not self._watched:
            for name in _CHANGES_DEVICES:
                setattr(olm, name, self._counted(getattr(olm, name)))
            self._watched = olm
            self.invalidate()
        return olm

    def _counted(self, method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def counted(*args: Any, **kwargs: Any) -> Any:
            try:
                return method(*args, **kwargs)
            finally:
                # Also after a failure: part of the change may have been made.
                self.invalidate()

        return counted

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
        members = sorted(set(users))
        return [u for u in members if self._unverified(u)], self._changed(members)

    def _changed(self, members: list[str]) -> list[str]:
        """Users whose devices differ from their pins; under tofu, pins the unpinned."""
        changed: list[str] = []
        pinned_any = False
        for user in members:
            devices = self._devices(user)
            pins = self._state.pins.get(user)
            if pins is None:
                if devices and self.policy == "tofu":
                    self._state.pins[user] = devices
                    self.invalidate()
                    pinned_any = True
                continue
            if any(pins.get(device_id) != key for device_id, key in devices.items()):
                changed.append(user)
        if pinned_any:
            self._state.save()
        return changed

    def changed_users(self, users: Iterable[str]) -> list[str]:
        return self.assess(users)[1]

    def check(self, room_id: str, users: Iterable[str]) -> bool:
        """Raise if the policy refuses ``users``; else whether to skip nio's verification."""
        policy = self.policy
        if policy == "always":
            return True
        olm = self._watch()
        current = frozenset(users)
        kept = self._verdicts.get(room_id)
        if kept is not None and kept[:4] == (self._generation, policy, olm, current):
            return kept[4]
        verdict = self._decide(room_id, current)
        # Under tofu, deciding may pin new users (a new generation): the verdict
        # already counts those pins, so it belongs to the generation after them.
        self._verdicts[room_id] = (self._generation, policy, olm, current, verdict)
        return verdict

    def _decide(self, room_id: str, users: frozenset[str]) -> bool:
        # Compute only what the policy decides on.
        members = sorted(users)
        if self.policy == "strict":
            blocked = [u for u in members if self._unverified(u)]
        else:
            blocked = self._changed(members)
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
        self.invalidate()
        self._state.save()

    def accept(self, user_id: str) -> None:
        """Pin and verify ``user_id``'s current devices (the application has checked them)."""
        olm = self._client.olm
        if olm is not None:
            for device in olm.device_store.active_user_devices(user_id):
                if device.id != self._client.device_id:
                    olm.verify_device(device)
        self._state.pins[user_id] = self._devices(user_id)
        self.invalidate()
        self._state.save()
