"""MatrixAdapter: the unimsg adapter protocol on matrix-nio, and its lifecycle."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Unpack

import anyio
import attrs
import sniffio
from anyio.abc import TaskStatus

from unimsg import (
    AdapterState,
    Address,
    Attachment,
    ClosedError,
    Content,
    Conversation,
    EncryptionState,
    Event,
    EventSink,
    Feature,
    MessageRef,
    NotSupportedError,
    OutgoingMessage,
    SentMessage,
    UnimsgError,
    UnverifiedDevicesError,
    UsageError,
    UserInfo,
    settings_from_keywords,
)

from ._config import MatrixConfig, MatrixSettings
from ._convert import Converter
from ._crosstrust import CrossTrust
from ._identity import Identity, backup_loop, final_backup
from ._keyrequests import BackupSource
from ._outbox import Outbox
from ._position import SyncPosition
from ._recovery_key import RecoveryKey
from ._rooms import Rooms
from ._session import Session
from ._sync import SyncLoop
from ._trust import Trust
from ._verification import Verifier

__all__ = ["MatrixAdapter"]

log = logging.getLogger("unimsg.matrix")


def _require_asyncio(*, strict: bool) -> None:
    try:
        library = sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        if strict:
            raise
        return
    if library != "asyncio":
        raise NotSupportedError(
            "matrix",
            f"running under {library}",
            "the Matrix adapter is built on matrix-nio, which needs asyncio: run the "
            "application with asyncio (for example anyio.run(main, backend='asyncio'))",
        )


@attrs.define(eq=False)
class _Live:
    """What exists only while ``run`` is active."""

    session: Session
    rooms: Rooms
    outbox: Outbox
    trust: Trust
    loop: SyncLoop
    identity: Identity | None


class MatrixAdapter:
    """One Matrix account.

    ``MatrixAdapter(homeserver=..., user_id=..., password=..., store_path=...)``
    or ``MatrixAdapter(MatrixConfig(...))``; ``MatrixAdapter.from_config(table)``
    reads a TOML table. See `MatrixConfig` for every setting.
    """

    # No threads yet, no disappearing messages (Matrix rooms have no expiration timer).
    features: frozenset[Feature] = frozenset({"markdown", "mentions", "replies", "redelivery"})
    #: Transaction ids: the homeserver answers a retried send with the first event.
    idempotent_sends = True
    #: Text of a plaintext room; see docs/matrix.md for encrypted rooms.
    max_message_bytes: int | None = 60_000

    def __init__(
        self, config: MatrixConfig | None = None, /, **settings: Unpack[MatrixSettings]
    ) -> None:
        _require_asyncio(strict=False)
        if config is None:
            config = settings_from_keywords(MatrixConfig, settings)
        elif settings:
            raise UsageError("give either a MatrixConfig or keyword settings, not both")
        self.config = config
        self._account = Address.matrix(config.user_id)
        self._live: _Live | None = None
        self._new_recovery_key: RecoveryKey | None = None
        self._shared_state: AdapterState | None = None

    @classmethod
    def from_config(
        cls, table: Mapping[str, Any], *, base_dir: Path | None = None
    ) -> MatrixAdapter:
        """From an ``[[adapters]]`` table of a unimsg.toml; see `MatrixConfig.from_mapping`."""
        return cls(MatrixConfig.from_mapping(table, base_dir=base_dir))

    def __repr__(self) -> str:
        state = "running" if self._live is not None else "stopped"
        return f"<MatrixAdapter {self.config.user_id} {state}>"

    @property
    def network(self) -> str:
        return "matrix"

    @property
    def account(self) -> Address:
        return self._account

    @property
    def device_id(self) -> str | None:
        """This account's device, once logged in."""
        return self._live.session.device_id if self._live is not None else None

    def _running(self) -> _Live:
        if self._live is None:
            raise ClosedError(f"{self!r} is not running: open it with a Client")
        return self._live

    # -- lifecycle ------------------------------------------------------------------------

    async def run(
        self, sink: EventSink, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        _require_asyncio(strict=True)
        if self._live is not None:
            raise UsageError(f"{self!r} is already running; one Client per adapter")
        session = await Session.open(self.config)
        identity: Identity | None = None
        loop: SyncLoop | None = None
        try:
            if self.config.cross_signing:
                identity = Identity(session, self.config)
                await identity.setup()
                self._new_recovery_key = identity.new_recovery_key
            trust = Trust(session.client, session.state, self.config.trust_policy, identity)
            rooms = Rooms(session, trust)
            outbox = Outbox(session, rooms, trust)
            position = SyncPosition(session.state, self._shared_state)
            loop = SyncLoop(session, Converter(self._account), outbox, rooms, sink, position)
            if identity is not None:
                loop.keys.cross = CrossTrust(session, identity)
                backup, key = identity.backup, identity.backup_key
                if backup is not None and key is not None and key.public == backup.public_key:
                    loop.keys.sources.append(BackupSource(backup, key))
                if backup is not None:
                    position.before_shared_write = backup.upload_pending
            master = (
                (lambda: identity.keys.master.public if identity.keys is not None else None)
                if identity is not None
                else (lambda: None)
            )
            verifier = Verifier(session, self.config.verification, loop.keys.cross, master)
            loop.on_to_device, loop.on_room_event = verifier.handle, verifier.room_event
            await loop.prime()
            self._live = _Live(session, rooms, outbox, trust, loop, identity)
            task_status.started()
            async with anyio.create_task_group() as tasks:
                verifier.tasks = tasks
                if identity is not None and identity.backup is not None:
                    tasks.start_soon(backup_loop, session, identity.backup)
                await loop.run()
                tasks.cancel_scope.cancel()
        finally:
            self._live = None
            with anyio.CancelScope(shield=True):
                if loop is not None:
                    try:
                        await loop.save_position()
                    except (OSError, UnimsgError) as exc:
                        # Only a redelivery on the next start; closing the session matters more.
                        log.warning("could not save the sync position: %s", exc)
                if identity is not None and identity.backup is not None:
                    await final_backup(identity.backup)
                await session.close()

    def use_state(self, state: AdapterState) -> None:
        """Keep the sync position in the client's store (see `SupportsSharedState`)."""
        if self._live is not None:
            raise UsageError(f"{self!r} is running; hand it its state before it starts")
        self._shared_state = state

    async def ack(self, event: Event) -> None:
        # Deliberately no ClosedError: the client acknowledges the last event
        # while shutting down, and an unacknowledged event is simply delivered
        # again on the next start.
        if self._live is not None:
            await self._live.loop.ack(event)

    # -- messages ---------------------------------------------------------------------------

    def _own(self, address: Address) -> None:
        if address.network != "matrix":
            raise NotSupportedError("matrix", f"addresses of {address.network}")

    async def send(self, message: OutgoingMessage) -> SentMessage:
        live = self._running()
        self._own(message.to)
        return await live.outbox.send(message)

    async def edit(self, target: MessageRef, content: Content, *, key: str) -> SentMessage:
        live = self._running()
        self._own(target.conversation)
        return await live.outbox.edit(target, content, key)

    async def delete(self, target: MessageRef, *, key: str) -> None:
        live = self._running()
        self._own(target.conversation)
        await live.outbox.delete(target, key)

    async def react(
        self, target: MessageRef, emoji: str, *, remove: bool = False, key: str
    ) -> SentMessage:
        live = self._running()
        self._own(target.conversation)
        return await live.outbox.react(target, emoji, remove, key)

    async def set_typing(self, conversation: Address, typing: bool) -> None:
        live = self._running()
        self._own(conversation)
        await live.outbox.set_typing(conversation, typing)

    async def mark_read(self, target: MessageRef) -> None:
        live = self._running()
        self._own(target.conversation)
        await live.outbox.mark_read(target)

    async def download(self, attachment: Attachment) -> bytes:
        return await self._running().outbox.download(attachment)

    # -- conversations ------------------------------------------------------------------------

    async def conversations(self) -> Sequence[Conversation]:
        return await self._running().rooms.conversations()

    async def conversation(self, address: Address) -> Conversation:
        return await self._running().rooms.conversation(address)

    async def create_conversation(
        self,
        *,
        name: str | None,
        members: Sequence[Address],
        encrypted: bool,
        direct: bool,
    ) -> Conversation:
        return await self._running().rooms.create(
            name=name, members=members, encrypted=encrypted, direct=direct
        )

    async def join(self, address: Address) -> Conversation:
        return await self._running().rooms.join(address)

    async def leave(self, address: Address) -> None:
        await self._running().rooms.leave(address)

    async def invite(self, conversation: Address, user: Address) -> None:
        await self._running().rooms.invite(conversation, user)

    async def find_users(self, query: str) -> Sequence[UserInfo]:
        return await self._running().rooms.find_users(query)

    async def encryption_state(self, address: Address) -> EncryptionState:
        return await self._running().rooms.encryption_state(address)

    # -- Matrix specifics -------------------------------------------------------------------------

    def take_recovery_key(self) -> str | None:
        """The recovery key this adapter made on its first start, once; then None.

        It is also written (0600) to ``recovery_key_path``. Hand it to the
        operator: with it, a new machine restores the bot's identity and
        message history (docs/matrix.md, "Encryption and verification").
        """
        key, self._new_recovery_key = self._new_recovery_key, None
        return key.encoded if key is not None else None

    @property
    def cross_signing_key(self) -> str | None:
        """This account's cross-signing master public key, once running with cross-signing."""
        live = self._live
        if live is None or live.identity is None or live.identity.keys is None:
            return None
        return live.identity.keys.master.public

    async def devices(self, user: Address | str) -> dict[str, str]:
        """``user``'s devices: device id -> Ed25519 fingerprint, to compare out of band."""
        live = self._running()
        address = self._user(user)
        olm = live.session.client.olm
        if olm is not None and address.id not in olm.tracked_users:
            olm.users_for_key_query.add(address.id)
        await live.session.maintain_keys()
        return live.trust.devices(address.id)

    async def trust_devices(self, user: Address | str) -> None:
        """Trust (verify and pin) ``user``'s current devices.

        Call it after checking out of band that the devices really are theirs:
        it lifts a ``"tofu"`` refusal after a new device appeared, and
        satisfies ``"strict"``.
        """
        live = self._running()
        address = self._user(user)
        await live.session.maintain_keys()
        live.trust.accept(address.id)
        # Our own devices may have asked for room keys before we trusted them.
        live.loop.keys.trusted(address.id)
        await live.session.maintain_keys()
        await live.loop.keys.ask()

    async def identity(self, user: Address | str) -> str | None:
        """``user``'s cross-signing master key (None without cross-signing), to compare."""
        live = self._running()
        cross = live.loop.keys.cross
        return None if cross is None else await cross.master_of(self._user(user).id)

    async def trust(self, user: Address, fingerprint: str | None = None, /) -> None:
        """Trust ``user``; with a ``fingerprint``, only if it is theirs.

        The fingerprint is their cross-signing master key (`identity`): their
        identity is then verified (signed with this account's user-signing key,
        as an interactive verification does) and every device they sign is
        trusted. Or the Ed25519 key of one of their devices (`devices`): their
        current devices are trusted. Without a fingerprint, both happen to what
        they have now.
        """
        address = self._user(user)
        live = self._running()
        # Our own identity is ours already; our devices are trusted as devices.
        own = address.id == live.session.user_id
        cross = None if own else live.loop.keys.cross
        master = await self.identity(address) if cross is not None else None
        if fingerprint is not None and fingerprint == master:
            assert cross is not None and master is not None
            await cross.sign_user(address.id, master)
            await cross.refresh(address.id)
            live.trust.pin(address.id)
            return
        if fingerprint is not None and fingerprint not in (await self.devices(address)).values():
            raise UnverifiedDevicesError(
                f"{fingerprint!r} is neither the cross-signing identity nor a device of "
                f"{address}; nothing was trusted",
                [address],
            )
        if fingerprint is None and cross is not None and master is not None:
            await cross.sign_user(address.id, master)
        await self.trust_devices(address)

    def _user(self, user: Address | str) -> Address:
        address = Address.parse(
            f"matrix:{user}" if isinstance(user, str) and user.startswith("@") else user
        )
        self._own(address)
        if not address.is_person:
            raise UsageError(f"{address} is not a Matrix user")
        return address
