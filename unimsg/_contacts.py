"""The contact book: people and teams by name, and back from any of their addresses.

Routing needs only a `Contact` (a name and identities). Applications that
receive as well as send also need the way back: which person sent this
event, which team is this room. A `ContactBook` answers both, and keeps the
two kinds apart: a person is reached at user addresses (a Signal number, a
Matrix user, for whom a direct room is opened on first use), a team at group
addresses (a Matrix room, a Signal group).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Literal

from ._address import Address
from ._exceptions import InvalidArgumentError
from ._router import Contact

__all__ = ["ContactBook", "ContactKind"]

ContactKind = Literal["person", "team"]


class ContactBook(Mapping[str, Contact]):
    """Contacts by name, and by every identity address.

    ``book["alice"]`` is the contact named alice; ``book.find(address)`` is
    the contact one of whose identities is ``address`` (an event's sender or
    conversation). An address belongs to one contact at most: two contacts
    sharing one would make the way back ambiguous, so that is refused.
    """

    __slots__ = ("_by_address", "_by_name")

    def __init__(self, contacts: Iterable[Contact] = ()) -> None:
        by_name: dict[str, Contact] = {}
        by_address: dict[Address, Contact] = {}
        for contact in contacts:
            if contact.name in by_name:
                raise InvalidArgumentError(f"two contacts named {contact.name!r}")
            by_name[contact.name] = contact
            for identity in contact.identities:
                other = by_address.setdefault(identity, contact)
                if other is not contact:
                    raise InvalidArgumentError(
                        f"{identity} belongs to both {other.name!r} and {contact.name!r}"
                    )
        self._by_name = by_name
        self._by_address = by_address

    @classmethod
    def of(cls, *contacts: Contact) -> ContactBook:
        return cls(contacts)

    @classmethod
    def from_tables(cls, tables: Mapping[str, Any]) -> ContactBook:
        """Read ``[contacts.NAME]`` tables: ``identities = [...]``, optional ``kind``.

        ``kind = "person"`` or ``"team"`` is checked against the identities,
        so that a room id under a person (or a phone number under a team)
        fails at load time rather than routing somewhere surprising.
        """
        contacts: list[Contact] = []
        for name, spec in tables.items():
            if not isinstance(spec, Mapping):
                raise InvalidArgumentError(f"[contacts.{name}] must be a table")
            contact = Contact(name, spec.get("identities", []))
            kind = spec.get("kind")
            if kind is not None:
                if kind not in ("person", "team"):
                    raise InvalidArgumentError(f"[contacts.{name}] kind must be 'person' or 'team'")
                check(contact, kind)
            contacts.append(contact)
        return cls(contacts)

    # -- Mapping --------------------------------------------------------------

    def __getitem__(self, name: str) -> Contact:
        return self._by_name[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)

    def __repr__(self) -> str:
        return f"ContactBook({list(self._by_name.values())!r})"

    # -- the way back -----------------------------------------------------------

    def find(self, address: Address | str) -> Contact | None:
        """The contact with this identity, if any."""
        return self._by_address.get(Address.parse(address))

    def name_of(self, address: Address | str) -> str:
        """The contact's name, else the address's own id (``+1555...``, ``@bob:server``)."""
        parsed = Address.parse(address)
        contact = self._by_address.get(parsed)
        return contact.name if contact is not None else parsed.id

    def kind(self, contact: Contact | str) -> ContactKind:
        """``"team"`` when every identity is a conversation, ``"person"`` otherwise."""
        found = self[contact] if isinstance(contact, str) else contact
        if found.identities and all(i.is_group for i in found.identities):
            return "team"
        return "person"

    def people(self) -> list[Contact]:
        return [c for c in self._by_name.values() if self.kind(c) == "person"]

    def teams(self) -> list[Contact]:
        return [c for c in self._by_name.values() if self.kind(c) == "team"]


def check(contact: Contact, kind: ContactKind) -> Contact:
    """``contact`` if its identities fit ``kind``; else `InvalidArgumentError` naming the misfit."""
    for identity in contact.identities:
        fits = identity.is_person if kind == "person" else identity.is_group
        if not fits:
            wanted = "user" if kind == "person" else "room or group"
            raise InvalidArgumentError(
                f"{contact.name!r} is a {kind}, but {identity} is not a {wanted} address"
            )
    return contact
