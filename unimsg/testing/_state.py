"""The state of a fake network: accounts, conversations, inboxes, faults."""

from __future__ import annotations

import base64
import itertools
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Literal

import anyio
import attrs

from .._address import Address, AddressKind
from .._events import EncryptionStateChanged, Event
from .._exceptions import InvalidAddressError, NotFoundError
from .._types import EncryptionState, SentMessage

__all__ = ["Faults", "NetworkState"]

TrustPolicy = Literal["strict", "tofu", "always"]
InvitePolicy = Literal["never", "always"] | frozenset[Address]
_MATRIX_SERVER = "fake.test"
MEGOLM = "m.megolm.v1.aes-sha2"


@attrs.define(eq=False)
class _Room:
    """A conversation as the network stores it (groups, Matrix rooms and DMs)."""

    address: Address
    name: str | None
    encrypted: bool
    direct: bool
    members: list[Address]
    invited: list[Address] = attrs.Factory(list)
    topic: str | None = None
    disappearing: timedelta | None = None


@attrs.define(eq=False)
class _Account:
    address: Address
    display_name: str | None
    username: str | None = None
    trust: TrustPolicy = "tofu"
    invites: InvitePolicy = "always"
    #: Events for this account, numbered from ``base``; those before
    #: ``position`` are acknowledged (and trimmed now and then).
    inbox: list[Event] = attrs.Factory(list)
    base: int = 0
    position: int = 0
    wakeup: anyio.Event = attrs.Factory(anyio.Event)
    #: Peers whose identity changed since this account last trusted them.
    changed: set[Address] = attrs.Factory(set)
    #: Peers this account verified (safety number compared, device verified).
    verified: set[Address] = attrs.Factory(set)
    #: Matrix: person -> direct room created on first send.
    direct_rooms: dict[Address, Address] = attrs.Factory(dict)
    #: Signal: people this account has written with.
    contacts: set[Address] = attrs.Factory(set)
    connection: int = 0
    #: Idempotency key -> receipt, where the network de-duplicates (Matrix txn ids).
    sent: dict[str, SentMessage] = attrs.Factory(dict)

    #: Adapters waiting in `wait`; with none, a post need not replace the event.
    waiting: int = 0

    def post(self, event: Event) -> None:
        self.inbox.append(event)
        if self.waiting:
            self.wake()

    def wake(self) -> None:
        self.wakeup.set()
        self.wakeup = anyio.Event()

    async def wait(self) -> None:
        """Until the next post or connection drop."""
        self.waiting += 1
        try:
            await self.wakeup.wait()
        finally:
            self.waiting -= 1

    @property
    def end(self) -> int:
        return self.base + len(self.inbox)

    def event_at(self, index: int) -> Event:
        return self.inbox[index - self.base]

    def acknowledge(self, index: int) -> None:
        if index < self.position:
            return
        self.position = index + 1
        # Like a server, forget what the client acknowledged, in batches.
        if self.position - self.base > 1024:
            del self.inbox[: self.position - self.base]
            self.base = self.position


@attrs.define
class _Pending:
    count: int
    retry_after: float = 0.0


class Faults:
    """Fault injection. Each method arms a fault for one account.

    Faults apply to the account's next operations, whether or not its
    adapter is running, the way a real server fails.
    """

    def __init__(self, network: NetworkState) -> None:
        self._network = network
        self.rate_limits: dict[Address, _Pending] = {}
        self.undecryptable: dict[Address, int] = {}
        self.duplicates: dict[Address, int] = {}
        self.stalls: dict[Address, float] = {}

    def rate_limit(self, account: Address | str, sends: int = 1, retry_after: float = 0.01) -> None:
        """Refuse the next ``sends`` sends from ``account`` with `RateLimitedError`."""
        self.rate_limits[Address.parse(account)] = _Pending(sends, retry_after)

    def drop_connection(self, account: Address | str) -> None:
        """Cut the account's connection: unacknowledged events come again."""
        acc = self._network.account(account)
        acc.connection += 1
        acc.wake()

    def duplicate_next(self, account: Address | str, count: int = 1) -> None:
        """Deliver the next ``count`` events to ``account`` twice."""
        self.duplicates[Address.parse(account)] = count

    def undecryptable_next(self, account: Address | str, count: int = 1) -> None:
        """The next ``count`` messages to ``account`` arrive undecryptable."""
        self.undecryptable[Address.parse(account)] = count

    def change_identity(self, account: Address | str) -> None:
        """``account`` gets a new identity key (a reinstall); its peers must re-trust it."""
        self._network.change_identity(Address.parse(account))

    def stall(self, account: Address | str, seconds: float) -> None:
        """Hold back events to ``account`` for ``seconds`` (a silent, hung stream)."""
        self.stalls[Address.parse(account)] = seconds

    def take_rate_limit(self, account: Address) -> float | None:
        pending = self.rate_limits.get(account)
        if pending is None or pending.count <= 0:
            return None
        pending.count -= 1
        return pending.retry_after

    def take(self, table: dict[Address, int], account: Address) -> bool:
        left = table.get(account, 0)
        if left <= 0:
            return False
        table[account] = left - 1
        return True


class NetworkState:
    """Accounts, conversations and messages of a fake network; see `FakeNetwork`."""

    def __init__(self) -> None:
        self._accounts: dict[Address, _Account] = {}
        self._rooms: dict[Address, _Room] = {}
        self._aliases: dict[Address, Address] = {}
        self._clock = itertools.count(int(datetime.now(UTC).timestamp() * 1000))
        #: (network, message id) -> sender, for replies, edits, deletes, reactions.
        self.messages: dict[tuple[str, str], Address] = {}
        self.blobs: dict[str, bytes] = {}
        self.timers: dict[frozenset[Address], timedelta | None] = {}
        self.faults = Faults(self)

    # -- accounts --------------------------------------------------------------

    def account(self, address: Address | str) -> _Account:
        address = Address.parse(address)
        try:
            return self._accounts[address]
        except KeyError:
            raise NotFoundError(f"{address} has no account on this fake network") from None

    def accounts(self, network: str) -> list[_Account]:
        return [a for a in self._accounts.values() if a.address.network == network]

    def find_account(self, address: Address) -> _Account | None:
        if address.kind is AddressKind.USERNAME:
            return next((a for a in self._accounts.values() if a.username == address.id), None)
        return self._accounts.get(address)

    def verify(self, account: Address | str, peer: Address | str) -> None:
        """``account`` verifies ``peer`` (compares safety numbers, verifies devices)."""
        acc, other = self.account(account), Address.parse(peer)
        acc.verified.add(other)
        acc.changed.discard(other)

    def change_identity(self, address: Address) -> None:
        for acc in self._accounts.values():
            if acc.address != address and self._share_conversation(acc.address, address):
                acc.changed.add(address)
                acc.post(self._identity_changed(acc.address, address))

    def _identity_changed(self, account: Address, peer: Address) -> EncryptionStateChanged:
        stamp, when = self.now()
        return EncryptionStateChanged(
            network=account.network,
            account=account,
            conversation=peer,
            sender=peer,
            id=f"identity-{stamp}",
            timestamp=when,
            state=EncryptionState(
                encrypted=True,
                scheme="signal" if account.network == "signal" else MEGOLM,
                can_decrypt=True,
                changed=(peer,),
            ),
            member=peer,
        )

    def _share_conversation(self, a: Address, b: Address) -> bool:
        if a.network != b.network:
            return False
        if a.network == "signal":
            return True
        return any(a in r.members and b in r.members for r in self._rooms.values())

    # -- conversations -----------------------------------------------------------

    def now(self) -> tuple[str, datetime]:
        """A fresh timestamp, unique across the network (Signal ids are timestamps)."""
        ms = next(self._clock)
        return str(ms), datetime.fromtimestamp(ms / 1000, UTC)

    def create_room(
        self,
        network: str,
        *,
        creator: Address | None = None,
        name: str | None = None,
        members: Sequence[Address | str] = (),
        encrypted: bool = True,
        direct: bool = False,
        alias: str | None = None,
        address: Address | None = None,
    ) -> Address:
        """Create a group (Signal) or room (Matrix); members join at once.

        ``address`` fixes the new conversation's address (a configuration names
        it); by default a fresh one is made up.
        """
        if address is not None:
            if address.network != network or not address.is_group:
                raise InvalidAddressError(f"{address} is not a {network} room or group address")
        elif network == "signal":
            group_id = base64.b64encode(secrets.token_bytes(32)).decode()
            address = Address(network, AddressKind.GROUP, group_id)
        elif network == "matrix":
            room_id = f"!{secrets.token_hex(9)}:{_MATRIX_SERVER}"
            address = Address(network, AddressKind.GROUP, room_id)
        else:
            address = Address(network, AddressKind.GROUP, secrets.token_hex(12))
        people = [Address.parse(m) for m in members]
        for person in people:
            if person not in self._accounts:
                self._accounts[person] = _Account(person, None)
        if creator is not None:
            people.insert(0, creator)
        room = _Room(
            address,
            name,
            encrypted=encrypted or network == "signal",
            direct=direct,
            members=list(dict.fromkeys(people)),
        )
        self._rooms[address] = room
        if alias is not None:
            self._aliases[Address.parse(f"matrix:#{alias}:{_MATRIX_SERVER}")] = address
        return address

    def room(self, address: Address) -> _Room:
        address = self._aliases.get(address, address)
        try:
            return self._rooms[address]
        except KeyError:
            raise NotFoundError(f"no conversation {address} on this fake network") from None

    def rooms_of(self, account: Address) -> list[_Room]:
        return [r for r in self._rooms.values() if account in r.members or account in r.invited]

    def resolve(self, address: Address) -> Address:
        return self._aliases.get(address, address)
