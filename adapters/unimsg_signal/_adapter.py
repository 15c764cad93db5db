"""SignalAdapter: one Signal account, served by a signal-cli daemon over JSON-RPC."""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Unpack

import anyio
import attrs
from anyio.abc import TaskStatus

from unimsg import (
    Address,
    Attachment,
    ConnectionState,
    ConnectionStateChanged,
    Content,
    EncryptionStateChanged,
    Event,
    EventSink,
    MessageRef,
    NotFoundError,
    OutgoingMessage,
    PermissionDeniedError,
    RecipientResult,
    RemoteProtocolError,
    SendStatus,
    SentMessage,
    UnimsgError,
    UntrustedIdentityError,
    UsageError,
)

from ._config import SignalConfig, SignalOptions
from ._convert import Context, convert, is_group_update, when
from ._directory import SignalDirectory
from ._inbox import Inbox
from ._link import Link
from ._send import (
    delete_params,
    message_params,
    reaction_params,
    receipt,
    receipt_params,
    typing_params,
)
from ._taskgroups import unwrapped

__all__ = ["SignalAdapter"]

log = logging.getLogger("unimsg.signal")


class _StateChange:
    def __init__(self, state: ConnectionState, reason: str | None) -> None:
        self.state, self.reason = state, reason


class SignalAdapter(SignalDirectory):
    """A Signal account through signal-cli (``daemon --tcp/--socket/--http`` or ``jsonRpc``).

    ``SignalAdapter.create("+15551234567", "tcp://127.0.0.1:7583")``; see
    `SignalConfig` for the options and docs/signal.md for running the daemon.
    """

    def __init__(self, config: SignalConfig) -> None:
        super().__init__(config)
        self._events = 0

    @classmethod
    def create(
        cls, account: str, url: str = "tcp://127.0.0.1:7583", **options: Unpack[SignalOptions]
    ) -> SignalAdapter:
        return cls(SignalConfig.create(account, url, **options))

    @classmethod
    def from_config(cls, table: Mapping[str, Any], *, base_dir: Path = Path()) -> SignalAdapter:
        """From a ``[[adapters]]`` table with ``type = "signal"`` (see docs/signal.md)."""
        return cls(SignalConfig.from_mapping(table, base_dir=base_dir))

    # -- lifecycle -------------------------------------------------------------------------

    async def run(self, sink: EventSink, *, task_status: TaskStatus[None]) -> None:
        if self._running:
            raise UsageError(f"{self!r} is already running")
        inbox = Inbox(self.config.event_buffer)

        def on_state(state: ConnectionState, reason: str | None) -> None:
            inbox.put(_StateChange(state, reason))

        link = Link(self.config, inbox, on_state)
        try:
            # Callers catch ConnectError, not a group around it.
            with unwrapped():
                async with anyio.create_task_group() as tg:
                    self._link = link
                    await tg.start(link.run)
                    self._running = True
                    await self._load_groups()
                    tg.start_soon(self._dispatch, inbox, sink)
                    task_status.started()
        finally:
            self._running = False
            self._link = None

    async def _load_groups(self) -> None:
        try:
            self._groups.load(await self._call("listGroups") or [])
        except UnimsgError as exc:
            log.warning("cannot list Signal groups; group changes show unresolved: %s", exc)

    async def _dispatch(self, inbox: Inbox, sink: EventSink) -> None:
        ctx = Context(self._account, self._own_sent)
        while True:
            item = await inbox.get()
            if isinstance(item, _StateChange):
                await sink(self._state_event(item))
                continue
            for event in convert(item, ctx):
                for out in await self._expand(event):
                    await sink(out)

    def _state_event(self, change: _StateChange) -> ConnectionStateChanged:
        self._events += 1
        now = anyio.current_time()
        return ConnectionStateChanged(
            network="signal",
            account=self._account,
            conversation=self._account,
            sender=self._account,
            id=f"connection-{self._events}-{now:.6f}",
            timestamp=datetime.now(UTC),
            state=change.state,
            reason=change.reason,
        )

    async def _expand(self, event: Event) -> list[Event]:
        """Events that need the daemon's help: group diffs, the 'always' trust policy."""
        try:
            if is_group_update(event):
                group = await self._group_json(event.conversation)
                return self._groups.changes(event, group)  # type: ignore[arg-type]
            if (
                isinstance(event, EncryptionStateChanged)
                and event.member is not None
                and self.config.trust_policy == "always"
            ):
                # Trusting makes signal-cli decrypt and deliver the held message again.
                await self.trust(event.member)
        except UnimsgError as exc:
            log.warning("could not resolve a Signal %s: %s", type(event).__name__, exc)
        return [event]

    async def ack(self, event: Event) -> None:
        """Nothing to commit: signal-cli acknowledges envelopes to the server itself
        before handing them out, and keeps no position for clients."""

    # -- sending ------------------------------------------------------------------------------

    async def _sending(
        self,
        method: str,
        params: dict[str, Any],
        conversation: Address,
        *,
        what: str,
        limit: float | None = None,
        retry_untrusted: bool = True,
    ) -> SentMessage:
        link = self._check()
        try:
            result = await link.call(method, params, fallback=conversation, limit=limit)
            sent = receipt(result, conversation, self._account, what=what)
        except UntrustedIdentityError as exc:
            if self.config.trust_policy != "always" or not retry_untrusted:
                raise
            # Nothing was delivered, so one resend after trusting duplicates nothing.
            await self._trust_failed(exc.results, exc.recipient)
            return await self._sending(
                method, params, conversation, what=what, limit=limit, retry_untrusted=False
            )
        self._own_sent.add(int(sent.id))
        if self.config.trust_policy == "always":
            await self._trust_failed(sent.failed, None)
        return sent

    async def _trust_failed(
        self, results: tuple[RecipientResult, ...], recipient: Address | None
    ) -> None:
        people = {r.recipient for r in results if r.status is SendStatus.UNTRUSTED_IDENTITY}
        if recipient is not None and not people:
            people.add(recipient)
        for person in sorted(people):
            await self.trust(person)

    async def _require_verified(self, to: Address) -> None:
        """Under trust_policy 'strict' (callers check): refuse unverified safety numbers."""
        state = await self.encryption_state(to)
        if state.unverified:
            who = state.unverified[0]
            results = [
                RecipientResult(recipient=p, status=SendStatus.UNTRUSTED_IDENTITY)
                for p in state.unverified
            ]
            raise UntrustedIdentityError(
                f"trust_policy is 'strict' and the safety number of {who} is not verified: "
                "compare it and call trust(address, safety_number)",
                results,
                recipient=who,
            )

    async def send(self, message: OutgoingMessage) -> SentMessage:
        self._check()
        to = self._own(message.to)
        content = message.content
        # Signal encrypts everything, so require_encryption holds by construction.
        params = message_params(content, to)
        if self.config.trust_policy == "strict":
            await self._require_verified(to)
        limit = self.config.attachment_timeout if content.attachments else None
        return await self._sending("send", params, to, what="message", limit=limit)

    def _mine(self, target: MessageRef, action: str) -> None:
        if target.sender != self._account:
            raise PermissionDeniedError(
                f"Signal lets {self._account} {action} only its own messages"
            )

    async def edit(self, target: MessageRef, content: Content, *, key: str) -> SentMessage:
        self._check()
        self._mine(target, "edit")
        conversation = self._own(target.conversation)
        params = message_params(content, conversation, edit_of=target)
        if self.config.trust_policy == "strict":
            await self._require_verified(conversation)
        return await self._sending("send", params, conversation, what="edit")

    async def delete(self, target: MessageRef, *, key: str) -> None:
        self._check()
        self._mine(target, "delete")
        conversation = self._own(target.conversation)
        await self._sending("remoteDelete", delete_params(target), conversation, what="delete")

    async def react(
        self, target: MessageRef, emoji: str, *, remove: bool = False, key: str
    ) -> SentMessage:
        self._check()
        conversation = self._own(target.conversation)
        params = reaction_params(target, emoji, remove)
        return await self._sending("sendReaction", params, conversation, what="reaction")

    async def set_typing(self, conversation: Address, typing: bool) -> None:
        self._check()
        target = await self._resolve(self._own(conversation))
        await self._sending(
            "sendTyping", typing_params(target, typing), conversation, what="typing"
        )

    async def mark_read(self, target: MessageRef) -> None:
        """Send a read receipt to the message's author (nothing for our own messages)."""
        self._check()
        if target.sender == self._account:
            return
        sender = await self._resolve(self._own(target.sender))
        ref = attrs.evolve(target, sender=sender)
        result = await self._call("sendReceipt", receipt_params(ref), about=sender)
        receipt(result, sender, self._account, what="read receipt", fallback_time=when(0))

    async def download(self, attachment: Attachment) -> bytes:
        if attachment.data is not None:
            return attachment.data
        self._check()
        if attachment.source is None:
            raise NotFoundError("the attachment has no signal-cli id to download")
        result = await self._call(
            "getAttachment", {"id": attachment.source}, limit=self.config.attachment_timeout
        )
        data = result.get("data") if isinstance(result, dict) else None
        if not isinstance(data, str):
            raise RemoteProtocolError("signal-cli returned an attachment without data")
        try:
            return base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise RemoteProtocolError(
                f"signal-cli returned undecodable attachment data: {exc}"
            ) from None

    @property
    def link(self) -> Link | None:
        """The connection to the daemon while running (version, reconnect count)."""
        return self._link
