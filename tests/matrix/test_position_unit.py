"""Where the sync position lives: state.json alone, or the client's store (moved there once)."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest
from unimsg_matrix import _position
from unimsg_matrix._position import SyncPosition
from unimsg_matrix._store import StateStore

from unimsg import ConnectError, MemoryStore
from unimsg._adapter_state import StoreAdapterState

pytestmark = pytest.mark.anyio


def _file_token(root: Path) -> object:
    return json.loads((root / "state.json").read_text())["sync_token"]


async def test_without_a_store_the_position_lives_in_the_state_file(tmp_path: Path) -> None:
    position = SyncPosition(StateStore.open(tmp_path), None)
    assert await position.load() is None
    await position.commit("s1")
    assert _file_token(tmp_path) == "s1"
    assert await SyncPosition(StateStore.open(tmp_path), None).load() == "s1"


async def test_a_file_position_moves_into_the_store_once(tmp_path: Path) -> None:
    state = StateStore.open(tmp_path)
    state.sync_token = "from-file"
    state.save()
    shared = StoreAdapterState(MemoryStore(), "matrix:@a:example.org")
    position = SyncPosition(StateStore.open(tmp_path), shared)
    assert await position.load() == "from-file"
    assert await shared.get("sync_token") == "from-file"
    assert _file_token(tmp_path) is None
    await position.commit("s2")
    assert await shared.get("sync_token") == "s2"
    assert _file_token(tmp_path) is None


async def test_the_store_wins_over_a_stale_file(tmp_path: Path) -> None:
    state = StateStore.open(tmp_path)
    state.sync_token = "old-host-position"
    state.save()
    shared = StoreAdapterState(MemoryStore(), "matrix:@a:example.org")
    await shared.put("sync_token", "newer")
    assert await SyncPosition(StateStore.open(tmp_path), shared).load() == "newer"
    assert _file_token(tmp_path) is None


async def test_a_shared_position_is_written_only_after_the_room_keys_are_backed_up(
    tmp_path: Path,
) -> None:
    shared = StoreAdapterState(MemoryStore(), "matrix:@a:example.org")
    position = SyncPosition(StateStore.open(tmp_path), shared)
    await position.load()
    seen: list[object] = []
    failing = True

    async def upload() -> None:
        # What another host would resume from at the moment the keys go up.
        seen.append(await shared.get("sync_token"))
        if failing:
            raise ConnectError("the homeserver is away")

    position.before_shared_write = upload
    await position.commit("s1", now=True)
    assert seen == [None]
    assert await shared.get("sync_token") is None, "written before the keys were backed up"
    failing = False
    await position.commit("s2", now=True)
    assert seen == [None, None]
    assert await shared.get("sync_token") == "s2"


async def test_a_position_in_the_state_file_does_not_wait_for_the_backup(tmp_path: Path) -> None:
    # The same device resumes from it, with the keys already in its own crypto store.
    position = SyncPosition(StateStore.open(tmp_path), None)
    await position.load()

    async def upload() -> None:
        raise AssertionError("not needed")

    position.before_shared_write = upload
    await position.commit("s1", now=True)
    assert _file_token(tmp_path) == "s1"


async def test_a_hanging_backup_holds_the_position_back_for_a_bounded_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_position, "BACKUP_WAIT", 0.05)
    shared = StoreAdapterState(MemoryStore(), "matrix:@a:example.org")
    position = SyncPosition(StateStore.open(tmp_path), shared)
    await position.load()
    position.before_shared_write = anyio.sleep_forever
    with anyio.fail_after(5):
        await position.commit("s1", now=True)
    assert await shared.get("sync_token") is None
