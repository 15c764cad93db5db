"""FakeAdapter: one account on a FakeNetwork, behaving like its real network."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import anyio
from anyio.abc import TaskStatus

from .._adapter import EventSink, OutgoingMessage
from .._address import Address
from .._attachment import Attachment
from .._capabilities import Feature
from .._events import (
    ConnectionState,
    ConnectionStateChanged,
    ConversationUpdated,
    Event,
    MessageDeleted,
    MessageEdited,
    MessageReceived,
    ReactionReceived,
    ReceiptKind,
    ReceiptReceived,
    TypingChanged,
    UndecryptableMessage,
)
from .._exceptions import (
    EncryptionRequiredError,
    InvalidContentError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    UntrustedIdentityError,
    UnverifiedDevicesError,
)
from .._markdown import to_html, to_styled
from .._recipients import RecipientResult, SendStatus
from .._types import Content, MessageRef, SentMessage
from ._conversations import FakeConversations
from ._state import _Account

__all__ = ["FakeAdapter", "FakeMatrixAdapter", "FakeSignalAdapter"]


class FakeAdapter(FakeConversations):
    """An account on a `FakeNetwork`; see ``FakeNetwork.adapter``.

    It offers what every network of the fake offers; `FakeSignalAdapter` and
    `FakeMatrixAdapter` add what the real adapter of their network adds.
    """

    # -- receiving ------------------------------------------------------------

    async def run(self, sink: EventSink, *, task_status: TaskStatus[None]) -> None:
        acc, faults = self._acc, self._net.faults
        connection, self._cursor = acc.connection, acc.position
        self._running = True
        nowait: Callable[[Event], bool] | None = getattr(sink, "nowait", None)
        if nowait is not None and self._cursor >= acc.end:
            # Caught up from the start: the first posts need not wait for this task to idle.
            acc.direct = self._deliver_directly(nowait, connection)
        task_status.started()
        try:
            while True:
                if acc.connection != connection:
                    # A reconnect resumes from what the application acknowledged.
                    connection, self._cursor = acc.connection, acc.position
                    await sink(self._status(ConnectionState.RECONNECTING, "connection dropped"))
                    await sink(self._status(ConnectionState.CONNECTED, None))
                    continue
                if self._cursor >= acc.end:
                    if nowait is not None:
                        acc.direct = self._deliver_directly(nowait, connection)
                    try:
                        await acc.wait()
                    finally:
                        acc.direct = None
                    continue
                if faults.stalls:
                    stall = faults.stalls.pop(acc.address, 0.0)
                    if stall:
                        await anyio.sleep(stall)
                event = acc.event_at(self._cursor)
                self._index[id(event)] = self._cursor
                self._cursor += 1
                await sink(event)
                if faults.duplicates and faults.take(faults.duplicates, acc.address):
                    await sink(event)
        finally:
            self._running = False

    def _deliver_directly(
        self, nowait: Callable[[Event], bool], connection: int
    ) -> Callable[[Event], bool]:
        """Delivery of a new post from the sender's task, while this adapter is caught up.

        It takes the path the adapter's task would (same cursor, same index
        for the ack), one task hop shorter; anything unusual (a fault armed,
        a dropped connection, a full client buffer) leaves the post to the task.
        """
        acc, faults = self._acc, self._net.faults

        def deliver(event: Event) -> bool:
            if (
                acc.connection != connection
                or self._cursor != acc.end - 1
                or faults.stalls
                or faults.duplicates
                or not nowait(event)
            ):
                return False
            self._index[id(event)] = self._cursor
            self._cursor += 1
            return True

        return deliver

    def _status(self, state: ConnectionState, reason: str | None) -> ConnectionStateChanged:
        stamp, when = self._net.now()
        return ConnectionStateChanged(
            network=self.network,
            account=self.account,
            conversation=self.account,
            sender=self.account,
            id=f"connection-{stamp}",
            timestamp=when,
            state=state,
            reason=reason,
        )

    async def ack(self, event: Event) -> None:
        index = self._index.pop(id(event), None)
        if index is not None:
            self._acc.acknowledge(index)

    def _check_trust(self, conversation: Address, peers: Sequence[_Account]) -> None:
        acc = self._acc
        changed = [p.address for p in peers if p.address in acc.changed]
        unverified = [p.address for p in peers if p.address not in acc.verified]
        if acc.trust == "always":
            acc.changed.difference_update(changed)
            return
        blocked = changed or (unverified if acc.trust == "strict" else [])
        if not blocked:
            return
        if self.network == "signal":
            results = [
                RecipientResult(recipient=a, status=SendStatus.UNTRUSTED_IDENTITY) for a in blocked
            ]
            raise UntrustedIdentityError(
                f"the identity of {blocked[0]} changed or is unverified; trust it before sending",
                results,
                recipient=blocked[0],
            )
        raise UnverifiedDevicesError(
            f"{conversation} has unverified devices of {', '.join(map(str, blocked))}", blocked
        )

    def _render(self, content: Content) -> dict[str, Any]:
        limit = self.max_message_bytes
        if limit is not None and (size := len(content.text.encode())) > limit:
            raise InvalidContentError(f"message of {size} bytes exceeds {self.network}'s {limit}")
        if content.format != "markdown":
            return {"text": content.text, "mentions": content.mentions}
        if self.network == "matrix":
            return {
                "text": content.text,
                "html": to_html(content.text),
                "mentions": content.mentions,
            }
        text, styles, mentions = to_styled(content.text, content.mentions)
        return {"text": text, "styles": styles, "mentions": mentions}

    # -- sending --------------------------------------------------------------

    async def send(self, message: OutgoingMessage) -> SentMessage:
        if not self._running or message.to.network != self.network:
            self._check()
            self._own(message.to)
        acc, net = self._acc, self._net
        key = message.idempotency_key
        if self.idempotent_sends and key in acc.sent:
            return acc.sent[key]
        network, account = acc.address.network, acc.address
        content = message.content
        faults = net.faults
        if faults.rate_limits:
            retry_after = faults.take_rate_limit(account)
            if retry_after is not None:
                raise RateLimitedError(
                    "too many messages (fake rate limit)", retry_after=retry_after
                )
        rendered = self._render(content)
        conversation, recipients = self._peers(message.to)
        encrypted = self._encrypted(conversation)
        if message.require_encryption and not encrypted:
            raise EncryptionRequiredError(f"{conversation} is not end-to-end encrypted")
        if encrypted and (acc.changed or acc.trust == "strict"):
            # Otherwise nothing can block: the common case of every send.
            self._check_trust(conversation, [peer for peer, _ in recipients])
        attachments = (
            tuple(self._store(a) for a in content.attachments) if content.attachments else ()
        )
        ttl = self._ttl(conversation)
        stamp, when = net.now()
        event_id = self._event_id(stamp)
        net.messages[(network, event_id)] = account
        raw = {"fake": "message", "idempotency_key": key}
        reply = content.reply_to
        results = []
        for peer, their_view in recipients:
            if (
                encrypted
                and faults.undecryptable
                and faults.take(faults.undecryptable, peer.address)
            ):
                peer.post(
                    UndecryptableMessage(
                        network=network,
                        account=peer.address,
                        conversation=their_view,
                        sender=account,
                        id=event_id,
                        timestamp=when,
                        raw=raw,
                        reason="no room key for this session",
                        session_id=secrets.token_hex(8),
                    )
                )
            else:
                peer.post(
                    MessageReceived(
                        network=network,
                        account=peer.address,
                        conversation=their_view,
                        sender=account,
                        id=event_id,
                        timestamp=when,
                        raw=raw,
                        **rendered,
                        attachments=attachments,
                        reply_to=None if reply is None else self._retarget(reply, their_view),
                        encrypted=encrypted,
                        expires_in=ttl,
                    )
                )
            result = self._delivered.get(peer.address)
            if result is None:
                result = RecipientResult(recipient=peer.address, status=SendStatus.DELIVERED)
                self._delivered[peer.address] = result
            results.append(result)
        receipt = SentMessage(
            conversation=conversation,
            id=event_id,
            sender=account,
            timestamp=when,
            recipients=tuple(results),
        )
        if self.idempotent_sends:
            acc.sent[key] = receipt
        return receipt

    def _store(self, attachment: Attachment) -> Attachment:
        data = attachment.read()
        source = f"fake://{secrets.token_hex(8)}"
        self._net.blobs[source] = data
        return Attachment(
            source=source,
            filename=attachment.name,
            mime_type=attachment.content_type,
            size=len(data),
        )

    def _ttl(self, conversation: Address) -> timedelta | None:
        if self.network != "signal":
            return None
        if conversation.is_group:
            return self._net.room(conversation).disappearing
        if not self._net.timers:
            return None
        return self._net.timers.get(frozenset((self.account, conversation)))

    def _target(
        self, ref: MessageRef, *, own: bool
    ) -> tuple[Address, list[tuple[_Account, Address]]]:
        sender = self._net.messages.get((self.network, ref.id))
        if sender is None:
            raise NotFoundError(f"no message {ref.id} in {ref.conversation}")
        if own and sender != self.account:
            raise PermissionDeniedError(f"{self.account} can only change its own messages")
        return self._peers(ref.conversation)

    async def react(
        self, target: MessageRef, emoji: str, *, remove: bool = False, key: str
    ) -> SentMessage:
        self._check()
        conversation, recipients = self._target(target, own=False)
        stamp, when = self._emit_per_view(
            recipients, ReactionReceived, target, emoji=emoji, removed=remove
        )
        return SentMessage(
            conversation=conversation, id=self._event_id(stamp), sender=self.account, timestamp=when
        )

    def _emit_per_view(
        self,
        recipients: Sequence[tuple[_Account, Address]],
        make: Callable[..., Event],
        target: MessageRef,
        **fields: Any,
    ) -> tuple[str, Any]:
        stamp, when = self._net.now()
        for acc, view in recipients:
            self._emit([(acc, view)], make, target=self._retarget(target, view), **fields)
        return stamp, when

    async def edit(self, target: MessageRef, content: Content, *, key: str) -> SentMessage:
        self._check()
        conversation, recipients = self._target(target, own=True)
        rendered = self._render(content)
        stamp, when = self._emit_per_view(recipients, MessageEdited, target, **rendered)
        return SentMessage(
            conversation=conversation, id=self._event_id(stamp), sender=self.account, timestamp=when
        )

    async def delete(self, target: MessageRef, *, key: str) -> None:
        self._check()
        _, recipients = self._target(target, own=True)
        self._emit_per_view(recipients, MessageDeleted, target)
        del self._net.messages[(self.network, target.id)]

    async def set_typing(self, conversation: Address, typing: bool) -> None:
        self._check()
        _, recipients = self._peers(conversation)
        self._emit(recipients, TypingChanged, typing=typing)

    async def mark_read(self, target: MessageRef) -> None:
        self._check()
        sender = self._net.messages.get((self.network, target.id))
        if sender is None or sender == self.account:
            return
        _, recipients = self._peers(target.conversation)
        view = [(acc, conv) for acc, conv in recipients if acc.address == sender]
        for acc, conv in view:
            self._emit(
                [(acc, conv)],
                ReceiptReceived,
                kind=ReceiptKind.READ,
                targets=(self._retarget(target, conv),),
            )

    async def download(self, attachment: Attachment) -> bytes:
        self._check()
        if attachment.source is None or attachment.source not in self._net.blobs:
            raise NotFoundError(f"no attachment {attachment.source} on this fake network")
        return self._net.blobs[attachment.source]


class FakeSignalAdapter(FakeAdapter):
    """A Signal account on a `FakeNetwork`: like `unimsg_signal.SignalAdapter`.

    It states no ``"redelivery"``, as the real adapter cannot promise it
    (signal-cli takes events off the server as it hands them out); it still
    redelivers unacknowledged events after a restart, so that tests of an
    application's acknowledgements behave the same on every fake network.
    """

    features: frozenset[Feature] = frozenset({"markdown", "mentions", "replies"})

    async def set_disappearing(self, conversation: Address, ttl: timedelta | None) -> None:
        self._check()
        self._own(conversation)
        if conversation.is_group:
            self._room(conversation).disappearing = ttl
        else:
            self._net.timers[frozenset((self.account, conversation))] = ttl
        _, recipients = self._peers(conversation)
        self._emit(recipients, ConversationUpdated, disappearing=ttl, disappearing_changed=True)


class FakeMatrixAdapter(FakeAdapter):
    """A Matrix account on a `FakeNetwork`: like `unimsg_matrix.MatrixAdapter`."""

    idempotent_sends = True
    # Synapse refuses events over 65,536 bytes of JSON; leave room for the envelope.
    max_message_bytes = 60_000
