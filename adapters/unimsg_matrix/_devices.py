"""Members' new devices, announced in every encrypted room we share with them."""

from __future__ import annotations

from datetime import UTC, datetime

import nio

from unimsg import Address, EncryptionStateChanged, Event

from ._rooms import Rooms

__all__ = ["device_changes", "device_ids"]


def device_ids(client: nio.AsyncClient) -> dict[str, frozenset[str]]:
    """The active device ids of every user whose devices we track."""
    olm = client.olm
    if olm is None:
        return {}
    return {
        user: frozenset(d.id for d in olm.device_store.active_user_devices(user))
        for user in olm.tracked_users
    }


async def device_changes(
    client: nio.AsyncClient, rooms: Rooms, account: Address, before: dict[str, frozenset[str]]
) -> list[Event]:
    """An `EncryptionStateChanged` per shared encrypted room when a member adds a device."""
    events: list[Event] = []
    for user, devices in device_ids(client).items():
        added = devices - before.get(user, frozenset())
        if not added or not before.get(user):
            continue
        for room in list(client.rooms.values()):
            if not room.encrypted or user not in room.users:
                continue
            if not rooms.is_member(room.room_id):
                continue
            address = Address.matrix(room.room_id)
            events.append(
                EncryptionStateChanged(
                    network="matrix",
                    account=account,
                    conversation=address,
                    sender=Address.matrix(user),
                    id=f"devices:{room.room_id}:{user}:{','.join(sorted(added))}",
                    timestamp=datetime.now(UTC),
                    state=await rooms.encryption_state(address),
                    member=Address.matrix(user),
                )
            )
    return events
