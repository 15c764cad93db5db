"""The per-room trust verdict is reused only while nothing it depends on has changed.

A stand-in for nio's ``Olm`` (a real ``DeviceStore``, verification kept in a
set) changes devices the ways nio does: through ``handle_response`` (a keys
query's answer) and the verify/blacklist/ignore methods. After each change the
next check must decide exactly as a check without any kept verdict would.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from nio.crypto import DeviceStore, OlmDevice
from unimsg_matrix._store import StateStore
from unimsg_matrix._trust import Trust

from unimsg import Address, UnverifiedDevicesError

ROOM = "!room:example.org"
ME, BOB, CAROL = "@me:example.org", "@bob:example.org", "@carol:example.org"


class FakeOlm:
    """nio's ``Olm`` as far as the trust policy reads and changes it."""

    def __init__(self) -> None:
        self.device_store = DeviceStore()
        self.verified: set[tuple[str, str, str]] = set()
        self.decided = 0

    def add(self, user_id: str, device_id: str) -> OlmDevice:
        device = OlmDevice(user_id, device_id, {"ed25519": f"ed-{device_id}", "curve25519": "c"})
        self.device_store.add(device)
        return device

    def handle_response(self, apply: Callable[[], None]) -> None:
        apply()

    @staticmethod
    def _key(device: OlmDevice) -> tuple[str, str, str]:
        return device.user_id, device.id, device.ed25519

    def is_device_verified(self, device: OlmDevice) -> bool:
        self.decided += 1
        return self._key(device) in self.verified

    def verify_device(self, device: OlmDevice) -> bool:
        self.verified.add(self._key(device))
        return True

    def unverify_device(self, device: OlmDevice) -> bool:
        self.verified.discard(self._key(device))
        return True

    def blacklist_device(self, device: OlmDevice) -> bool:
        self.verified.discard(self._key(device))
        return True

    def unblacklist_device(self, device: OlmDevice) -> bool:
        return True

    def ignore_device(self, device: OlmDevice) -> bool:
        return True

    def unignore_device(self, device: OlmDevice) -> bool:
        return True


def _trust(tmp_path: Path, policy: Any) -> tuple[Trust, FakeOlm]:
    olm = FakeOlm()
    client: Any = SimpleNamespace(olm=olm, device_id="MINE")
    return Trust(client, StateStore.open(tmp_path / "store"), policy), olm


def _refused(trust: Trust, users: set[str]) -> list[Address]:
    with pytest.raises(UnverifiedDevicesError) as refused:
        trust.check(ROOM, users)
    return list(refused.value.users)


def test_strict_verdict_is_kept_until_devices_or_verification_change(tmp_path: Path) -> None:
    trust, olm = _trust(tmp_path, "strict")
    phone = olm.add(BOB, "PHONE")
    olm.verify_device(phone)
    assert trust.check(ROOM, {ME, BOB}) is False
    asked = olm.decided
    assert trust.check(ROOM, {ME, BOB}) is False
    assert olm.decided == asked, "an unchanged room was checked again"

    # A keys query brings a new, unverified device.
    laptop: list[OlmDevice] = []
    olm.handle_response(lambda: laptop.append(olm.add(BOB, "LAPTOP")))
    assert _refused(trust, {ME, BOB}) == [Address.matrix(BOB)]
    olm.verify_device(laptop[0])
    assert trust.check(ROOM, {ME, BOB}) is False

    # Taking verification back counts at once, however it is done.
    olm.unverify_device(phone)
    assert _refused(trust, {ME, BOB}) == [Address.matrix(BOB)]
    olm.verify_device(phone)
    assert trust.check(ROOM, {ME, BOB}) is False
    olm.blacklist_device(phone)
    assert _refused(trust, {ME, BOB}) == [Address.matrix(BOB)]


def test_strict_verdict_follows_the_members(tmp_path: Path) -> None:
    trust, olm = _trust(tmp_path, "strict")
    olm.verify_device(olm.add(BOB, "PHONE"))
    olm.add(CAROL, "DESK")
    assert trust.check(ROOM, {ME, BOB}) is False
    # Carol's devices were known before she joined: only the membership changed.
    assert _refused(trust, {ME, BOB, CAROL}) == [Address.matrix(CAROL)]
    assert trust.check(ROOM, {ME, BOB}) is False
    # Another room has its own members.
    assert _refused(trust, {ME, CAROL}) != []


def test_tofu_verdict_is_kept_until_devices_or_pins_change(tmp_path: Path) -> None:
    trust, olm = _trust(tmp_path, "tofu")
    olm.add(BOB, "PHONE")
    assert trust.check(ROOM, {ME, BOB}) is True
    asked = olm.decided
    assert trust.check(ROOM, {ME, BOB}) is True

    # A deleted device and a new one, from a keys query: bob changed.
    def replace() -> None:
        olm.device_store[BOB]["PHONE"].deleted = True
        olm.add(BOB, "TABLET")

    olm.handle_response(replace)
    assert _refused(trust, {ME, BOB}) == [Address.matrix(BOB)]
    assert _refused(trust, {ME, BOB}) == [Address.matrix(BOB)]
    trust.accept(BOB)
    assert trust.check(ROOM, {ME, BOB}) is True
    assert olm.decided == asked, "tofu needs no verification state"

    # Pins changed by hand (``trust`` with a device fingerprint) count too.
    olm.handle_response(lambda: olm.add(BOB, "WATCH"))
    assert _refused(trust, {ME, BOB}) == [Address.matrix(BOB)]
    trust.pin(BOB)
    assert trust.check(ROOM, {ME, BOB}) is True


def test_a_new_olm_machine_is_watched_too(tmp_path: Path) -> None:
    trust, olm = _trust(tmp_path, "strict")
    olm.verify_device(olm.add(BOB, "PHONE"))
    assert trust.check(ROOM, {ME, BOB}) is False
    # Logging in again gives nio a new Olm over the same store.
    fresh = FakeOlm()
    fresh.add(BOB, "PHONE")
    trust._client.olm = fresh
    assert _refused(trust, {ME, BOB}) == [Address.matrix(BOB)]
    fresh.verify_device(fresh.device_store[BOB]["PHONE"])
    assert trust.check(ROOM, {ME, BOB}) is False
    fresh.unverify_device(fresh.device_store[BOB]["PHONE"])
    assert _refused(trust, {ME, BOB}) == [Address.matrix(BOB)]
