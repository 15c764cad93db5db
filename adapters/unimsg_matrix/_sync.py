"""The sync loop: from /sync to events, exactly once across restarts.

The sync position is committed only when every event of a sync response has
been acknowledged by the application (``ack``), so a crash in a handler
delivers the unhandled events again on the next start. Batches are committed
in order; a batch without events commits as soon as those before it have.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import attrs
import nio

from unimsg import (
    AuthenticationError,
    ConnectError,
    ConnectionState,
    ConnectionStateChanged,
    Event,
    EventSink,
    RateLimitedError,
    RemoteError,
    UnimsgError,
)

from ._convert import Converter
from ._devices import device_changes, device_ids
from ._errors import check, translated
from ._keyrequests import KeyRequests
from ._outbox import Outbox
from ._position import SyncPosition
from ._rooms import Rooms
from ._session import Session

__all__ = ["SyncLoop"]

log = logging.getLogger("unimsg.matrix")


@attrs.define(eq=False)
class _Batch:
    token: str
    remaining: int


class SyncLoop:
    def __init__(
        self,
        session: Session,
        converter: Converter,
        outbox: Outbox,
        rooms: Rooms,
        sink: EventSink,
        position: SyncPosition,
    ) -> None:
        self._session = session
        self._client = session.client
        self._config = session.config
        self._converter = converter
        self._outbox = outbox
        self._rooms = rooms
        self._sink = sink
        self._committed = position
        # Keyed by id() but holding the event too, so that an id is never reused
        # by a new object while its event is still unacknowledged.
        self._pending: dict[int, tuple[Event, _Batch]] = {}
        self._batches: deque[_Batch] = deque()
        self._typing: dict[str, set[str]] = {}
        self._known_rooms: set[str] = set()
        # Synapse answers an identical /sync from a cache for a while; a filter
        # that differs per run keeps a restarted client from getting a stale answer.
        self._nonce = uuid.uuid4().hex[:12]
        self._filter_ids: dict[int, str] = {}
        self._position: str | None = None
        self._since: str | None = None
        self._replay: nio.SyncResponse | None = None
        self._startup_invites: list[tuple[str, Any]] = []
        self._connection_events = 0
        self.keys = KeyRequests(session, self._convert)
        #: Interactive verification: each sync's to-device events, and room events
        #: (true if it took the event, which the application then does not see).
        self.on_to_device: Callable[[list[Any]], Awaitable[None]] | None = None
        self.on_room_event: Callable[[str, Any], Awaitable[bool]] | None = None

    def _filter(self, limit: int) -> dict[str, Any]:
        return {
            "room": {"timeline": {"limit": limit}},
            "account_data": {"not_types": [f"org.unimsg.run.{self._nonce}"]},
        }

    async def _stored_filter(self, limit: int) -> str:
        """The id of ``_filter(limit)`` stored on the homeserver (uploaded on first use).

        Sent inline, the filter is URL-encoded into every /sync, and nio decodes and
        encodes that query again for each request: with one sync per message, that
        was the largest cost the adapter added to a sync.
        """
        found = self._filter_ids.get(limit)
        if found is None:
            body = self._filter(limit)
            with translated("upload the sync filter"):
                response = await self._client.upload_filter(
                    account_data=body["account_data"], room=body["room"]
                )
            found = self._filter_ids[limit] = check(response, "upload the sync filter").filter_id
        return found

    async def _sync(
        self,
        since: str | None,
        limit: int,
        timeout_ms: int,
        *,
        full_state: bool = False,
        stored_filter: bool = False,
    ) -> nio.SyncResponse:
        # nio skips a response whose next_batch equals the last one it saw: right for
        # an empty long poll, wrong for the start-up full-state sync (nothing new since
        # the saved position, but room state nio has yet to load).
        self._client.next_batch = None if full_state else since
        # nio puts no client-side limit on a full-state sync; a hung server must not hang us.
        deadline = timeout_ms / 1000 + self._config.request_timeout + 15
        # Start-up syncs once with the filter inline, rather than wait for an upload first.
        sync_filter = await self._stored_filter(limit) if stored_filter else self._filter(limit)
        with translated("sync"):
            async with asyncio.timeout(deadline):
                response = await self._client.sync(
                    timeout=timeout_ms,
                    sync_filter=sync_filter,
                    since=since,
                    full_state=full_state or None,
                )
        return check(response, "sync")

    # -- start-up -------------------------------------------------------------------------------

    async def prime(self) -> None:
        """Load room state and keys before the adapter reports that it can send.

        nio keeps no room state between runs, so a restart asks for the full
        state along with everything since the saved position: one response
        that both prepares sending and holds the events missed while down
        (delivered by ``run``). Fetching state separately would process the
        pending to-device messages (room keys) twice.
        """
        since = await self._committed.load()
        limit = self._config.timeline_limit
        if since is None:
            replay = self._config.replay_history
            response = await self._sync(None, limit if replay else 1, 0)
        else:
            replay = True
            response = await self._sync(since, limit, 0, full_state=True)
        self._known_rooms = set(response.rooms.join)
        self._session.requery_tracked_users()
        await self._session.maintain_keys()
        self._session.synced()
        if replay:
            self._replay = response
        else:
            # Without replay_history the past is skipped, pending invites included:
            # act on the policy for them, but start from now.
            self._startup_invites = list(response.rooms.invite.items())
            await self._committed.commit(response.next_batch, now=True)
        self._since = since
        self._position = response.next_batch

    # -- the loop -------------------------------------------------------------------------------

    async def run(self) -> None:
        for room_id, info in self._startup_invites:
            # Invites that arrived while we were away: act on the policy, announce nothing twice.
            await self._apply_invite_policy(room_id, info)
        since = self._position
        if self._replay is not None:
            replay, self._replay = self._replay, None
            try:
                events = await self._events(replay, self._since)
            except (ConnectError, RemoteError) as exc:
                # Filling a gap failed: the loop fetches the same span again.
                log.debug("catching up failed (%s); syncing again", type(exc).__name__)
                since = self._since
            else:
                await self._deliver(events + await self.keys.after_sync(), replay.next_batch)
        failures = 0
        while True:
            try:
                response = await self._sync(
                    since, self._config.timeline_limit, self._sync_timeout(), stored_filter=True
                )
                self._session.synced()
                if failures:
                    failures = 0
                    await self._sink(self._connection(ConnectionState.CONNECTED, None))
                events = await self._events(response, since)
            except AuthenticationError:
                raise
            except RateLimitedError as exc:
                await asyncio.sleep(exc.retry_after if exc.retry_after is not None else 1.0)
                continue
            except (ConnectError, RemoteError) as exc:
                failures += 1
                if failures == 1:
                    await self._sink(self._connection(ConnectionState.RECONNECTING, str(exc)))
                delay = min(self._config.max_backoff, 0.5 * 2 ** min(failures - 1, 10))
                log.debug("sync failed (%s); retrying in %.1fs", type(exc).__name__, delay)
                await asyncio.sleep(delay)
                continue
            # Device lists change only through a keys query, which maintain_keys makes
            # when nio has users to query: otherwise there is nothing to compare.
            before = device_ids(self._client) if self._client.should_query_keys else None
            try:
                await self._session.maintain_keys()
            except UnimsgError as exc:
                log.debug("key maintenance failed: %s", exc)
            if before is not None:
                account = self._converter.account
                events += await device_changes(self._client, self._rooms, account, before)
            events += await self.keys.after_sync()
            await self._deliver(events, response.next_batch)
            since = response.next_batch

    def _sync_timeout(self) -> int:
        return max(0, int(self._config.sync_timeout_ms))

    def _connection(self, state: ConnectionState, reason: str | None) -> ConnectionStateChanged:
        self._connection_events += 1
        account = self._converter.account
        return ConnectionStateChanged(
            network="matrix",
            account=account,
            conversation=account,
            sender=account,
            id=f"connection:{self._nonce}:{self._connection_events}",
            timestamp=datetime.now(UTC),
            state=state,
            reason=reason,
        )

    # -- acknowledgement ------------------------------------------------------------------------

    async def _deliver(self, events: list[Event], token: str) -> None:
        batch = _Batch(token, len(events))
        self._batches.append(batch)
        for event in events:
            self._pending[id(event)] = (event, batch)
        await self._commit()
        for event in events:
            await self._sink(event)

    async def ack(self, event: Event) -> None:
        self.keys.acked(event)
        entry = self._pending.get(id(event))
        if entry is None or entry[0] is not event:
            return
        del self._pending[id(event)]
        entry[1].remaining -= 1
        await self._commit()

    async def _commit(self) -> None:
        token = None
        while self._batches and self._batches[0].remaining <= 0:
            token = self._batches.popleft().token
        if token is not None:
            await self._committed.commit(token)

    async def save_position(self) -> None:
        """Write a position held back by the write interval (at stop)."""
        await self._committed.flush()

    # -- sync responses to events ---------------------------------------------------------------

    async def _events(self, response: nio.SyncResponse, since: str | None) -> list[Event]:
        if self.on_to_device is not None:
            await self.on_to_device(response.to_device_events)
        events: list[Event] = []
        for room_id, info in response.rooms.invite.items():
            events.extend(await self._invite(room_id, info))
        for room_id, info in response.rooms.join.items():
            timeline = list(info.timeline.events)
            joined_now = room_id not in self._known_rooms
            self._known_rooms.add(room_id)
            # A newly joined room shows its recent past once; older history stays unfetched.
            if info.timeline.limited and since and not joined_now and info.timeline.prev_batch:
                timeline = await self._gap(room_id, info.timeline.prev_batch, since) + timeline
            for event in await self.keys.decrypt_from_sources(room_id, timeline):
                if self.on_room_event is not None and await self.on_room_event(room_id, event):
                    continue
                converted = self._convert(room_id, event)
                if converted is not None:
                    events.append(converted)
            events.extend(self._ephemeral(room_id, info.ephemeral))
        for room_id, info in response.rooms.leave.items():
            self._known_rooms.discard(room_id)
            self._typing.pop(room_id, None)
            # nio ignores the leave section, so its room would still list us as a member.
            room = self._client.rooms.get(room_id)
            if room is not None:
                room.remove_member(self._session.user_id)
            for event in info.timeline.events:
                converted = self._convert(room_id, event)
                if converted is not None:
                    events.append(converted)
        return events

    async def _gap(self, room_id: str, prev_batch: str, since: str) -> list[Any]:
        """Events between our last position and a limited timeline, oldest first."""
        log.debug("fetching events %s missed in a limited sync", room_id)
        found: list[Any] = []
        token = prev_batch
        action = f"fetch missed messages of {room_id}"
        while True:
            with translated(action):
                response = await self._client.room_messages(
                    room_id, start=token, end=since, direction=nio.MessageDirection.back, limit=100
                )
            page = check(response, action)
            found.extend(page.chunk)
            if not page.chunk or not page.end or page.end == token:
                break
            token = page.end
        found.reverse()
        return found

    def _convert(self, room_id: str, event: Any) -> Event | None:
        source = getattr(event, "source", None)
        if not isinstance(source, dict):
            return None
        user_id = self._session.user_id
        sender = source.get("sender")
        if sender == user_id:
            unsigned = source.get("unsigned")
            txn = getattr(event, "transaction_id", None) or (
                unsigned.get("transaction_id") if isinstance(unsigned, dict) else None
            )
            if txn or source.get("event_id") in self._outbox.sent_ids:
                return None
        undecryptable = event.session_id if isinstance(event, nio.MegolmEvent) else None
        if undecryptable is not None:
            self.keys.missing(room_id, event)
        return self._converter.timeline(
            room_id,
            source,
            encrypted=bool(getattr(event, "decrypted", False)) or undecryptable is not None,
            from_self=sender == user_id,
            undecryptable=undecryptable,
        )

    def _ephemeral(self, room_id: str, ephemeral: list[Any]) -> list[Event]:
        events: list[Event] = []
        user_id = self._session.user_id
        for event in ephemeral:
            if isinstance(event, nio.TypingNoticeEvent):
                now = {u for u in event.users if isinstance(u, str) and u != user_id}
                before = self._typing.get(room_id, set())
                self._typing[room_id] = now
                events += [self._converter.typing(room_id, u, True) for u in sorted(now - before)]
                events += [self._converter.typing(room_id, u, False) for u in sorted(before - now)]
            elif isinstance(event, nio.ReceiptEvent):
                events += self._converter.receipts(room_id, event.receipts, user_id)
        return events

    # -- invites --------------------------------------------------------------------------------

    @staticmethod
    def _inviter(info: Any, user_id: str) -> tuple[str | None, bool]:
        for event in getattr(info, "invite_state", []):
            if (
                isinstance(event, nio.InviteMemberEvent)
                and event.state_key == user_id
                and event.membership == "invite"
            ):
                content = event.content if isinstance(event.content, dict) else {}
                return event.sender, bool(content.get("is_direct"))
        return None, False

    async def _invite(self, room_id: str, info: Any) -> list[Event]:
        inviter, _ = self._inviter(info, self._session.user_id)
        event = self._converter.invite(room_id, inviter, datetime.now(UTC))
        await self._apply_invite_policy(room_id, info)
        return [event]

    async def _apply_invite_policy(self, room_id: str, info: Any) -> None:
        inviter, direct = self._inviter(info, self._session.user_id)
        if direct and inviter:
            self._rooms.remember_direct(inviter, room_id, replace=False)
        policy = self._config.invite_policy
        accept = policy == "always" or (isinstance(policy, frozenset) and inviter in policy)
        if not accept:
            return
        try:
            with translated(f"join {room_id}"):
                check(await self._client.join(room_id), f"join {room_id}")
        except UnimsgError as exc:
            # One bad invite (a room that vanished) must not stop the account.
            log.warning("could not accept the invite to %s: %s", room_id, exc)
