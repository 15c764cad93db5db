"""What every `Store` must do, as a base class: subclass it with a ``backend`` fixture.

The fixture yields a function that opens a store; called twice it opens the
same storage again (a restart), for the stores that keep anything.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import anyio
import pytest

from unimsg import Address, MessageRef, OutboxEntry, Store

Opener = Callable[[], Awaitable[Store]]


def ref(conversation: str, mid: str, sender: str = "matrix:@a:x.test") -> MessageRef:
    return MessageRef(
        conversation=Address.parse(conversation),
        id=mid,
        sender=Address.parse(sender),
        timestamp=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    )


ROOM, GROUP = "matrix:!room:x.test", "signal:group:Z2dnZ2dnZ2dnZ2dnZ2dnZw=="


@asynccontextmanager
async def opened(backend: Opener) -> AsyncIterator[Store]:
    store = await backend()
    try:
        yield store
    finally:
        await store.close()


class StoreContract:
    #: Whether what was written is there after closing and opening again.
    persistent = True

    async def test_is_a_store(self, backend: Opener) -> None:
        async with opened(backend) as store:
            assert isinstance(store, Store)

    async def test_seen_and_remember(self, backend: Opener) -> None:
        async with opened(backend) as store:
            assert await store.seen(["a", "b"]) == set()
            assert await store.seen([]) == set()
            await store.remember(["a", "c"])
            await store.remember([])
            await store.remember(["a"])
            assert await store.seen(["a", "b", "c"]) == {"a", "c"}
            many = [f"k{i}" for i in range(1200)]
            await store.remember(many)
            assert await store.seen([*many, "x"]) == set(many)

    async def test_values(self, backend: Opener) -> None:
        async with opened(backend) as store:
            assert await store.get("sync") is None
            await store.put("sync", "s1")
            await store.put("sync", "s2")
            assert await store.get("sync") == "s2"
            await store.put("sync", None)
            await store.put("never", None)
            assert await store.get("sync") is None

    async def test_outbox_keeps_order_and_first_entry_per_key(self, backend: Opener) -> None:
        async with opened(backend) as store:
            assert await store.outbox_pending() == []
            first = OutboxEntry(key="k1", lane="l", payload="one")
            await store.outbox_add(first)
            await store.outbox_add(OutboxEntry(key="k2", lane="m", payload="two"))
            await store.outbox_add(OutboxEntry(key="k1", lane="l", payload="changed"))
            await store.outbox_add(OutboxEntry(key="k3", lane="l", payload="three"))
            assert [e.key for e in await store.outbox_pending()] == ["k1", "k2", "k3"]
            assert (await store.outbox_pending())[0] == first
            await store.outbox_remove("k2")
            await store.outbox_remove("missing")
            assert [e.payload for e in await store.outbox_pending()] == ["one", "three"]

    async def test_relay_map_both_ways_per_relay(self, backend: Opener) -> None:
        origin, copy = ref(ROOM, "$e1"), ref(GROUP, "1700000000000", "signal:+15550000001")
        async with opened(backend) as store:
            await store.relay_record("r", origin, copy)
            # The first pair wins: a second copy of one original is not recorded.
            await store.relay_record("r", origin, ref(GROUP, "other"))
            assert await store.relay_copy("r", ROOM, "$e1") == copy
            assert await store.relay_origin("r", GROUP, "1700000000000") == origin
            assert await store.relay_origin("r", GROUP, "other") is None
            assert await store.relay_copy("r", GROUP, "1700000000000") is None
            assert await store.relay_copy("other relay", ROOM, "$e1") is None

    async def test_everything_survives_a_reopen(self, backend: Opener) -> None:
        if not self.persistent:
            pytest.skip("this store keeps nothing across a restart, by design")
        origin, copy = ref(ROOM, "$e1"), ref(GROUP, "c1")
        async with opened(backend) as store:
            await store.remember(["handled"])
            await store.put("sync", "s9")
            await store.outbox_add(OutboxEntry(key="k", lane="l", payload="p"))
            await store.relay_record("r", origin, copy)
        async with opened(backend) as store:
            assert await store.seen(["handled", "new"]) == {"handled"}
            assert await store.get("sync") == "s9"
            assert await store.outbox_pending() == [OutboxEntry(key="k", lane="l", payload="p")]
            assert await store.relay_copy("r", ROOM, "$e1") == copy

    async def test_claims_take_the_head_of_each_free_lane(self, backend: Opener) -> None:
        async with opened(backend) as store:
            for key, lane in [("a1", "a"), ("b1", "b"), ("a2", "a"), ("c1", "c")]:
                await store.outbox_add(OutboxEntry(key=key, lane=lane, payload=key))
            first = await store.outbox_claim("w1", limit=2, lease=30)
            assert [e.key for e in first] == ["a1", "b1"]
            assert not any(e.taken_over for e in first)
            # Lane a is held by w1's claim on a1: a2 waits, whoever asks.
            assert [e.key for e in await store.outbox_claim("w2", limit=10, lease=30)] == ["c1"]
            assert await store.outbox_claim("w1", limit=10, lease=30) == []
            await store.outbox_remove("a1")
            assert [e.key for e in await store.outbox_claim("w2", limit=10, lease=30)] == ["a2"]
            # Given back unsent: free at once, and not taken over.
            await store.outbox_release("w2", ["c1"])
            await store.outbox_release("w1", ["a2"])  # not w1's: stays w2's
            again = await store.outbox_claim("w1", limit=10, lease=30)
            assert [(e.key, e.taken_over) for e in again] == [("c1", False)]
            assert await store.outbox_size() == 3
            assert [e.key for e in await store.outbox_pending()] == ["b1", "a2", "c1"]
            await store.outbox_release("w1", ["c1"])
            await store.outbox_add(OutboxEntry(key="d1", lane="dx", payload="d"))
            only = await store.outbox_claim("w3", limit=10, lease=30, prefixes=["d", "e"])
            assert [e.key for e in only] == ["d1"]

    async def test_an_expired_claim_is_taken_over_and_says_so(self, backend: Opener) -> None:
        async with opened(backend) as store:
            await store.outbox_add(OutboxEntry(key="k", lane="l", payload="p"))
            await store.outbox_add(OutboxEntry(key="k2", lane="m", payload="p"))
            assert len(await store.outbox_claim("dead", limit=1, lease=0.05)) == 1
            assert len(await store.outbox_claim("live", limit=1, lease=0.05)) == 1
            await store.outbox_renew("live", 30)
            await anyio.sleep(0.1)
            taken = await store.outbox_claim("w", limit=10, lease=30)
            assert [(e.key, e.taken_over) for e in taken] == [("k", True)]

    async def test_leases_have_one_holder_until_they_expire(self, backend: Opener) -> None:
        async with opened(backend) as store:
            assert await store.lease("reader:x", "a", 0.2)
            assert not await store.lease("reader:x", "b", 0.2)
            assert await store.lease("reader:x", "a", 0.2)  # renewal
            assert await store.lease("reader:y", "b", 0.2)  # another lease
            held = await store.leases()
            assert [(i.name, i.holder) for i in held] == [("reader:x", "a"), ("reader:y", "b")]
            assert all(0 <= i.age < 5 and 0 < i.left <= 0.2 for i in held)
            await anyio.sleep(0.3)
            assert await store.leases() == []
            assert await store.lease("reader:x", "b", 30)
            assert not await store.lease("reader:x", "a", 30)
            await store.lease_release("reader:x", "a")  # not a's: no effect
            assert not await store.lease("reader:x", "a", 30)
            await store.lease_release("reader:x", "b")
            assert await store.lease("reader:x", "a", 30)
