"""The emulated Signal network: accounts, groups, identities and mailboxes.

Everything here is plain synchronous state shared by all emulated daemons in
one process, so several daemons (or one multi-account daemon) can talk to each
other. Message content is kept as :mod:`._envelopes` values and turned into
envelope JSON only when a device takes it out of its mailbox.
"""

from __future__ import annotations

import base64
import os
import secrets
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from enum import StrEnum
from typing import Any

import attrs

from . import _envelopes as env
from ._faults import Faults

JsonObject = dict[str, Any]
Sink = Callable[[JsonObject], None]


class TrustLevel(StrEnum):
    UNTRUSTED = "UNTRUSTED"
    TRUSTED_UNVERIFIED = "TRUSTED_UNVERIFIED"
    TRUSTED_VERIFIED = "TRUSTED_VERIFIED"


@attrs.define(eq=False)
class Profile:
    given_name: str | None = None
    family_name: str | None = None
    about: str | None = None
    about_emoji: str | None = None
    mobile_coin_address: str | None = None
    has_avatar: bool = False
    last_update: int | None = None

    @property
    def display_name(self) -> str | None:
        parts = [p for p in (self.given_name, self.family_name) if p]
        return " ".join(parts) or None


@attrs.define(eq=False)
class Contact:
    """What one account stores about another (signal-cli's recipient store)."""

    aci: str
    given_name: str | None = None
    family_name: str | None = None
    nick_given_name: str | None = None
    nick_family_name: str | None = None
    note: str | None = None
    expiration: int = 0
    blocked: bool = False


@attrs.define(eq=False)
class IdentityRecord:
    key: bytes
    trust: TrustLevel
    added: int


@attrs.define(eq=False)
class Account:
    """A registered Signal account. Compare accounts by ``aci``."""

    number: str
    aci: str
    pni: str
    username: str | None
    identity_key: bytes
    profile: Profile = attrs.Factory(Profile)
    registered: bool = True
    device_id: int = 1
    contacts: dict[str, Contact] = attrs.Factory(dict)
    identities: dict[str, IdentityRecord] = attrs.Factory(dict)
    blocked_groups: set[str] = attrs.Factory(set)
    send_read_receipts: bool = True
    mailbox: deque[env.Delivery] = attrs.Factory(deque)
    untrusted_cache: list[env.Delivery] = attrs.Factory(list)
    last_timestamp: int = 0

    def contact(self, aci: str) -> Contact:
        return self.contacts.setdefault(aci, Contact(aci))


class LinkMode(StrEnum):
    DISABLED = "disabled"
    ENABLED = "enabled"
    ENABLED_WITH_APPROVAL = "enabled-with-approval"


@attrs.define(eq=False)
class Group:
    """A v2 group. Member lists hold ACIs in join order."""

    id: str
    name: str | None = None
    description: str | None = None
    members: list[str] = attrs.Factory(list)
    admins: set[str] = attrs.Factory(set)
    pending: list[str] = attrs.Factory(list)
    requesting: list[str] = attrs.Factory(list)
    banned: list[str] = attrs.Factory(list)
    known_by: set[str] = attrs.Factory(set)
    revision: int = 0
    expiration: int = 0
    link_mode: LinkMode = LinkMode.DISABLED
    link_password: str = attrs.Factory(lambda: secrets.token_urlsafe(12))
    permission_add_member: str = "EVERY_MEMBER"
    permission_edit_details: str = "EVERY_MEMBER"
    permission_send_message: str = "EVERY_MEMBER"

    @property
    def invite_link(self) -> str | None:
        if self.link_mode is LinkMode.DISABLED:
            return None
        return f"https://signal.group/#{self.id_urlsafe}{self.link_password}"

    @property
    def id_urlsafe(self) -> str:
        return base64.urlsafe_b64encode(base64.b64decode(self.id)).decode().rstrip("=")


class EmulatedNetwork:
    """A closed Signal network in memory.

    Example::

        network = EmulatedNetwork()
        alice = network.register("+15550000001", username="alice.01", given_name="Alice")
        bob = network.register("+15550000002")
        network.send_text(bob, alice, "hi")        # queued in alice's mailbox
        network.take_pending(alice)                 # -> [{"envelope": {...}, "account": ...}]

    Daemons attach to accounts with :meth:`attach`; while attached, messages
    go straight to the daemon instead of waiting in the mailbox.
    """

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._accounts: dict[str, Account] = {}
        self._sinks: dict[str, Sink] = {}
        self.groups: dict[str, Group] = {}
        self.attachments: dict[str, bytes] = {}
        self.faults = Faults(self)
        self.drop_callbacks: list[Callable[[], None]] = []

    # -- accounts ---------------------------------------------------------------

    def register(
        self,
        number: str,
        *,
        username: str | None = None,
        given_name: str | None = None,
        family_name: str | None = None,
        aci: str | None = None,
    ) -> Account:
        """Create an account (or return the existing one with that number)."""
        if number in self._accounts:
            return self._accounts[number]
        account = Account(
            number=number,
            aci=aci or str(uuid.uuid4()),
            pni=str(uuid.uuid4()),
            username=username,
            identity_key=os.urandom(32),
            profile=Profile(given_name=given_name, family_name=family_name),
        )
        self._accounts[number] = account
        return account

    @property
    def accounts(self) -> list[Account]:
        return list(self._accounts.values())

    def find(self, ident: str) -> Account | None:
        """Look up by number, ACI, ``PNI:uuid``, ``u:username`` or bare username."""
        if ident in self._accounts:
            return self._accounts[ident]
        name = ident[2:] if ident.startswith("u:") else ident
        pni = ident[4:] if ident.startswith("PNI:") else None
        for account in self._accounts.values():
            if account.aci == ident.lower() or (pni and account.pni == pni.lower()):
                return account
            if account.username is not None and account.username.lower() == name.lower():
                return account
        return None

    def account(self, ident: str | Account) -> Account:
        if isinstance(ident, Account):
            return ident
        found = self.find(ident)
        if found is None:
            raise KeyError(f"no emulated account {ident!r}")
        return found

    def by_aci(self, aci: str) -> Account:
        return next(a for a in self._accounts.values() if a.aci == aci)

    def change_identity(self, ident: str | Account) -> bytes:
        """Give the account a new identity key (a re-install).

        Peers that trusted the old key now see it as untrusted: sending to it
        gives IDENTITY_FAILURE, and its messages arrive as
        ``UntrustedIdentityException`` until the peer calls ``trust``.
        """
        account = self.account(ident)
        account.identity_key = os.urandom(32)
        return account.identity_key

    def identity(self, observer: Account, peer: Account) -> IdentityRecord:
        """The observer's record of the peer's key, trusted on first use."""
        record = observer.identities.get(peer.aci)
        if record is None:
            record = IdentityRecord(peer.identity_key, TrustLevel.TRUSTED_UNVERIFIED, self.now_ms())
            observer.identities[peer.aci] = record
        elif record.key != peer.identity_key and record.trust is not TrustLevel.UNTRUSTED:
            record.key, record.trust, record.added = (
                peer.identity_key,
                TrustLevel.UNTRUSTED,
                self.now_ms(),
            )
        elif record.key != peer.identity_key:
            record.key = peer.identity_key
        return record

    def trust(self, observer: Account, peer: Account, level: TrustLevel) -> None:
        """Trust the peer's current key and re-deliver what it could not decrypt."""
        self.identity(observer, peer)
        observer.identities[peer.aci].trust = level
        retry = [d for d in observer.untrusted_cache if d.sender == peer.aci]
        observer.untrusted_cache = [d for d in observer.untrusted_cache if d.sender != peer.aci]
        for delivery in retry:
            self._enqueue(observer, delivery)

    # -- time ---------------------------------------------------------------------

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    def next_timestamp(self, sender: Account) -> int:
        """A send timestamp strictly greater than the sender's previous one."""
        sender.last_timestamp = max(self.now_ms(), sender.last_timestamp + 1)
        return sender.last_timestamp

    # -- groups -------------------------------------------------------------------

    def create_group(
        self, creator: str | Account, name: str | None, members: Iterable[str | Account] = ()
    ) -> Group:
        """A new v2 group with the creator as admin (no update message is sent)."""
        owner = self.account(creator)
        group = Group(id=base64.b64encode(os.urandom(32)).decode(), name=name)
        group.members.append(owner.aci)
        group.admins.add(owner.aci)
        for member in members:
            aci = self.account(member).aci
            if aci not in group.members:
                group.members.append(aci)
        group.known_by.update(group.members)
        self.groups[group.id] = group
        return group

    def group_by_link(self, uri: str) -> Group | None:
        for group in self.groups.values():
            if group.invite_link is not None and uri == group.invite_link:
                return group
        return None

    # -- delivery -----------------------------------------------------------------

    def attach(self, ident: str | Account, sink: Sink) -> None:
        """Let a device receive for the account; pending mail is handed out first."""
        account = self.account(ident)
        if account.number in self._sinks:
            raise RuntimeError(f"{account.number} is already receiving elsewhere")
        self._sinks[account.number] = sink
        while account.mailbox and self._sinks.get(account.number) is sink:
            self._hand_out(account, account.mailbox.popleft(), sink)

    def detach(self, ident: str | Account) -> None:
        self._sinks.pop(self.account(ident).number, None)

    def is_attached(self, ident: str | Account) -> bool:
        return self.receiver(ident) is not None

    def receiver(self, ident: str | Account) -> Sink | None:
        return self._sinks.get(self.account(ident).number)

    def take_pending(self, ident: str | Account) -> list[JsonObject]:
        """Receive everything queued for an unattached account, as payload objects."""
        account = self.account(ident)
        out: list[JsonObject] = []
        while account.mailbox:
            self._hand_out(account, account.mailbox.popleft(), out.append)
        return out

    def submit(self, recipient: Account, delivery: env.Delivery) -> None:
        """Put one message on the server for the recipient."""
        sender = self.by_aci(delivery.sender)
        if recipient.contacts.get(sender.aci, Contact(sender.aci)).blocked and delivery.is_message:
            return
        group_id = delivery.group_id
        if group_id is not None and group_id in recipient.blocked_groups:
            return
        self._enqueue(recipient, delivery)

    def _enqueue(self, recipient: Account, delivery: env.Delivery) -> None:
        sink = self._sinks.get(recipient.number)
        if sink is None:
            recipient.mailbox.append(delivery)
        else:
            self._hand_out(recipient, delivery, sink)

    def _hand_out(self, account: Account, delivery: env.Delivery, sink: Sink) -> None:
        sender = self.by_aci(delivery.sender)
        now = self.now_ms()
        if sender.aci != account.aci:
            record = self.identity(account, sender)
            if record.trust is TrustLevel.UNTRUSTED:
                account.untrusted_cache.append(delivery)
                sink(env.untrusted_payload(self, account, delivery, now))
                return
        self._learn(account, sender, delivery)
        sink(env.payload(self, account, delivery, now))
        if delivery.wants_delivery_receipt and sender.aci != account.aci:
            receipt = env.ReceiptContent("delivery", [delivery.timestamp], now)
            self.submit(sender, env.Delivery(account.aci, account.device_id, now, now, receipt))

    def _learn(self, account: Account, sender: Account, delivery: env.Delivery) -> None:
        """What a receiving client stores: the sender as contact, its timer."""
        if sender.aci == account.aci:
            return
        contact = account.contact(sender.aci)
        data = delivery.data
        if data is not None and data.group is None and (data.message or data.is_expiration_update):
            contact.expiration = data.expires_in

    # -- scripted peers -------------------------------------------------------------

    def send_text(
        self,
        sender: str | Account,
        to: str | Account | Group,
        text: str,
        *,
        device: int = 1,
    ) -> int:
        """Send a plain text from Python, as if from the sender's phone.

        ``device`` other than the account's own (1) also puts a
        ``syncMessage.sentMessage`` into the sender's mailbox, like a message
        typed on a linked phone. Returns the message timestamp.
        """
        source = self.account(sender)
        ts = self.next_timestamp(source)
        now = self.now_ms()
        if isinstance(to, Group):
            data = env.DataContent(ts, text, expires_in=to.expiration, group=env.GroupRef(to.id))
            targets = [self.by_aci(a) for a in to.members if a != source.aci]
            destination = None
        else:
            target = self.account(to)
            data = env.DataContent(ts, text, expires_in=source.contact(target.aci).expiration)
            targets, destination = [target], target.aci
        for target in targets:
            self.submit(target, env.Delivery(source.aci, device, ts, now, data))
        if device != source.device_id:
            sync = env.SyncSentContent(destination, data)
            self._enqueue(source, env.Delivery(source.aci, device, ts, now, sync))
        return ts

    def drop_connections(self) -> None:
        """Close every client connection of every daemon on this network."""
        for callback in list(self.drop_callbacks):
            callback()
