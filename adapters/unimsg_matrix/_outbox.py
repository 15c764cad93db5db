"""Everything this account puts into rooms: messages, files, edits, reactions, redactions."""

from __future__ import annotations

from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

import nio
from nio.api import RelationshipType
from nio.crypto.attachments import decrypt_attachment, encrypt_attachment

from unimsg import (
    Address,
    Attachment,
    Content,
    DecryptionError,
    EncryptionRequiredError,
    InvalidContentError,
    MessageRef,
    NotFoundError,
    OutgoingMessage,
    RecipientResult,
    SendStatus,
    SentMessage,
)

from ._content import (
    attachment_content,
    check_size,
    edit_content,
    json_size,
    message_content,
    reaction_content,
)
from ._errors import check, translated
from ._rooms import Rooms
from ._session import Session
from ._trust import Trust

__all__ = ["Outbox"]

_REMEMBERED = 4096


class Outbox:
    def __init__(self, session: Session, rooms: Rooms, trust: Trust) -> None:
        self._session = session
        self._client = session.client
        self._rooms = rooms
        self._trust = trust
        self.account = Address.matrix(session.user_id)
        #: Event ids this device sent, to recognise their echoes in sync.
        self.sent_ids: OrderedDict[str, None] = OrderedDict()
        #: (target event id, emoji) -> our reaction's event id, to take it back.
        self._reactions: dict[tuple[str, str], str] = {}
        # Every receipt names the room and its members: parsing those ids again
        # on each send was a tenth of what the adapter adds to nio per message.
        self._addresses: dict[str, Address] = {}
        self._recipients_of: dict[str, tuple[frozenset[str], tuple[RecipientResult, ...]]] = {}

    def _remember(self, event_id: str) -> None:
        self.sent_ids[event_id] = None
        while len(self.sent_ids) > _REMEMBERED:
            self.sent_ids.popitem(last=False)

    def _address(self, matrix_id: str) -> Address:
        found = self._addresses.get(matrix_id)
        if found is None:
            if len(self._addresses) >= _REMEMBERED:
                self._addresses.clear()
            found = self._addresses[matrix_id] = Address.matrix(matrix_id)
        return found

    def _recipients(self, room_id: str, members: list[str]) -> tuple[RecipientResult, ...]:
        # The same members get the same (immutable) results: built once per membership.
        current = frozenset(members)
        kept = self._recipients_of.get(room_id)
        if kept is not None and kept[0] == current:
            return kept[1]
        me = self._session.user_id
        results = tuple(
            RecipientResult(recipient=self._address(user), status=SendStatus.DELIVERED)
            for user in members
            if user != me
        )
        if len(self._recipients_of) >= _REMEMBERED:
            self._recipients_of.clear()
        self._recipients_of[room_id] = (current, results)
        return results

    def _receipt(self, room_id: str, event_id: str, members: list[str]) -> SentMessage:
        return SentMessage(
            conversation=self._address(room_id),
            id=event_id,
            sender=self.account,
            timestamp=datetime.now(UTC),
            recipients=self._recipients(room_id, members),
        )

    # -- the one way into a room ----------------------------------------------------------------

    async def _room_send(
        self,
        room_id: str,
        event_type: str,
        content: dict[str, Any],
        tx_id: str,
        *,
        measured: int | None = None,
    ) -> str:
        """Send one event; ``measured`` is ``json_size(content)`` if known already."""
        room = self._rooms.joined(room_id)
        # nio sends reactions in the clear even in encrypted rooms.
        encrypted = bool(room.encrypted) and event_type != "m.reaction"
        check_size(
            content,
            event_type,
            sender=self._session.user_id,
            room_id=room_id,
            device_id=self._session.device_id if encrypted else None,
            measured=measured,
        )
        ignore_unverified = False
        if room.encrypted:
            olm = self._client.olm
            if olm is not None:
                olm.update_tracked_users(room)
            await self._session.maintain_keys()
            ignore_unverified = self._trust.check(room_id, room.users)
        action = f"send to {room_id}"
        with translated(action):
            response = await self._client.room_send(
                room_id,
                event_type,
                content,
                tx_id=tx_id,
                ignore_unverified_devices=ignore_unverified,
            )
        event_id: str = check(response, action).event_id
        self._remember(event_id)
        return event_id

    # -- messages -------------------------------------------------------------------------------

    async def send(self, message: OutgoingMessage) -> SentMessage:
        content = message.content
        text: dict[str, Any] | None = None
        measured: int | None = None
        if content.text:
            text = message_content(content)
            measured = json_size(text)
            # Fail on size before creating a direct room or uploading anything; the
            # exact check (room id, encryption) comes with each event.
            check_size(
                text,
                "m.room.message",
                sender=self._session.user_id,
                room_id="",
                measured=measured,
            )
        room_id = await self._rooms.target(message.to)
        room = self._rooms.joined(room_id)
        if message.require_encryption and not room.encrypted:
            raise EncryptionRequiredError(
                f"{message.to} ({room_id}) is not end-to-end encrypted; "
                "send without require_encryption or use an encrypted room"
            )
        key = message.idempotency_key
        first: str | None = None
        if text is not None:
            first = await self._room_send(room_id, "m.room.message", text, key, measured=measured)
        for index, attachment in enumerate(content.attachments):
            body = await self._upload(attachment, encrypted=bool(room.encrypted))
            # Each file is its own event; derived txn ids keep a retry idempotent.
            tx_id = key if first is None else f"{key}.{index}"
            event_id = await self._room_send(room_id, "m.room.message", body, tx_id)
            first = first or event_id
        assert first is not None
        return self._receipt(room_id, first, list(room.users))

    async def _upload(self, attachment: Attachment, *, encrypted: bool) -> dict[str, Any]:
        data = attachment.read()
        payload, keys = encrypt_attachment(data) if encrypted else (data, None)
        action = f"upload {attachment.name}"
        with translated(action):
            response, _ = await self._client.upload(
                lambda _limited, _timeouts: payload,
                content_type="application/octet-stream" if encrypted else attachment.content_type,
                filename=attachment.name,
                filesize=len(payload),
            )
        url: str = check(response, action).content_uri
        if keys is None:
            return attachment_content(attachment, len(data), url=url)
        file = {"url": url, **keys, "mimetype": attachment.content_type}
        return attachment_content(attachment, len(data), file=file)

    async def edit(self, target: MessageRef, content: Content, key: str) -> SentMessage:
        room_id = await self._rooms.room_id(target.conversation)
        event_id = await self._room_send(
            room_id, "m.room.message", edit_content(target.id, content), key
        )
        return self._receipt(room_id, event_id, list(self._rooms.joined(room_id).users))

    async def delete(self, target: MessageRef, key: str) -> str:
        room_id = await self._rooms.room_id(target.conversation)
        self._rooms.joined(room_id)
        action = f"delete {target.id}"
        with translated(action):
            response = await self._client.room_redact(room_id, target.id, tx_id=key)
        event_id: str = check(response, action).event_id
        self._remember(event_id)
        return event_id

    async def react(self, target: MessageRef, emoji: str, remove: bool, key: str) -> SentMessage:
        room_id = await self._rooms.room_id(target.conversation)
        members = list(self._rooms.joined(room_id).users)
        if remove:
            ours = self._reactions.pop((target.id, emoji), None) or await self._find_reaction(
                room_id, target.id, emoji
            )
            if ours is None:
                raise NotFoundError(f"no {emoji!r} reaction of ours on {target.id}")
            redaction = await self.delete(
                MessageRef(
                    conversation=target.conversation,
                    id=ours,
                    sender=self.account,
                    timestamp=target.timestamp,
                ),
                key,
            )
            return self._receipt(room_id, redaction, members)
        event_id = await self._room_send(
            room_id, "m.reaction", reaction_content(target.id, emoji), key
        )
        self._reactions[(target.id, emoji)] = event_id
        return self._receipt(room_id, event_id, members)

    async def _find_reaction(self, room_id: str, target_id: str, emoji: str) -> str | None:
        with translated(f"look up reactions to {target_id}"):
            async for event in self._client.room_get_event_relations(
                room_id, target_id, RelationshipType.annotation, "m.reaction"
            ):
                source = getattr(event, "source", {})
                relates = source.get("content", {}).get("m.relates_to", {})
                if source.get("sender") == self._session.user_id and relates.get("key") == emoji:
                    found: str = source["event_id"]
                    return found
        return None

    # -- typing, receipts, files ----------------------------------------------------------------

    async def set_typing(self, conversation: Address, typing: bool) -> None:
        room_id = await self._rooms.room_id(conversation)
        self._rooms.joined(room_id)
        action = f"set typing in {room_id}"
        with translated(action):
            check(await self._client.room_typing(room_id, typing, timeout=30_000), action)

    async def mark_read(self, target: MessageRef) -> None:
        room_id = await self._rooms.room_id(target.conversation)
        self._rooms.joined(room_id)
        action = f"mark {target.id} read"
        with translated(action):
            response = await self._client.room_read_markers(
                room_id, fully_read_event=target.id, read_event=target.id
            )
        check(response, action)

    async def download(self, attachment: Attachment) -> bytes:
        if not attachment.source or not attachment.source.startswith("mxc://"):
            raise InvalidContentError(f"{attachment.source!r} is not a Matrix content URI")
        action = f"download {attachment.source}"
        with translated(action):
            response = await self._client.download(mxc=attachment.source)
        body: bytes = check(response, action).body
        secrets = attachment.secrets
        if not isinstance(secrets, dict) or "key" not in secrets:
            return body
        try:
            return bytes(
                decrypt_attachment(
                    body, secrets["key"]["k"], secrets["hashes"]["sha256"], secrets["iv"]
                )
            )
        except (KeyError, TypeError, ValueError, nio.EncryptionError) as exc:
            raise DecryptionError(f"cannot decrypt {attachment.source}: {exc}") from None
