"""The TOML configuration file shared by the command line and applications.

See docs/configuration.md for the format. Every table and key is checked
(types, choices, addresses, that each route's ``via`` names a configured
adapter); all problems are reported together in one `ConfigError`, one line
each. Secrets never sit in the file: adapters read them from the environment
variables the file names (``password_env``).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import attrs

from ._adapter import Adapter, Configurable
from ._address import Address
from ._client import Client
from ._contacts import ContactBook, check
from ._exceptions import AdapterNotFoundError, ConfigError, UsageError
from ._postgres import PostgresStore
from ._registry import adapter_class, adapter_names
from ._router import Contact, Route, adapter_name, plan_routes
from ._settings import did_you_mean, structure, unknown_key

if TYPE_CHECKING:
    from .testing import FakeNetwork

__all__ = ["Config", "load_config", "parse_config"]

DEFAULT_PATHS = ("unimsg.toml",)
SECTIONS = ("client", "adapters", "routes", "contacts")


@attrs.frozen(kw_only=True)
class ClientSettings:
    """``[client]``."""

    require_encryption: bool = False
    #: A SQLite file keeping de-duplication and the durable outbox across restarts,
    #: or a ``postgresql://`` URL of a store several processes share.
    store: str | None = None
    #: The environment variable holding the PostgreSQL password (else libpq's own ways).
    store_password_env: str | None = None
    #: Seconds of the lease that lets one process at a time read these accounts.
    reader_lease: float | None = None


@attrs.frozen(kw_only=True)
class ContactSettings:
    """``[contacts.NAME]``."""

    identities: tuple[Address, ...]
    kind: Literal["person", "team"] | None = None


@attrs.frozen(kw_only=True)
class FakeRoom:
    """A room (or group) of a fake adapter's ``rooms``, with a fixed address."""

    address: Address
    name: str | None = None
    members: tuple[Address, ...] = ()
    encrypted: bool = True


@attrs.frozen(kw_only=True)
class FakeSettings:
    """``[[adapters]]`` with ``type = "fake"``: an account on an in-process network."""

    account: Address
    display_name: str | None = None
    #: Other accounts on the network, so that sends to them succeed.
    peers: tuple[Address, ...] = ()
    #: Rooms (Matrix) or groups (Signal) the account is a member of.
    rooms: tuple[FakeRoom, ...] = ()


@attrs.frozen(kw_only=True)
class Config:
    """A checked configuration: adapters, routes, contacts and client options."""

    adapters: tuple[Adapter, ...]
    routes: tuple[Route, ...] = ()
    contacts: ContactBook = attrs.field(factory=ContactBook)
    require_encryption: bool = False
    #: The client's store (``[client] store``: an SQLite file or a PostgreSQL URL), else memory.
    store: Path | PostgresStore | None = None
    #: Seconds of the reader lease (``[client] reader_lease``) for processes sharing a store.
    reader_lease: float | None = None
    #: The file it was read from, if any.
    source: str | None = None
    #: The shared in-process network of ``type = "fake"`` adapters, if any.
    fake_network: FakeNetwork | None = None

    def client(self, adapters: Iterable[Adapter] | None = None) -> Client:
        """A `Client` with the configured routes, options, store and contacts.

        ``adapters`` narrows it to some of the configured adapters (those a
        command needs); by default all of them.
        """
        chosen = tuple(self.adapters if adapters is None else adapters)
        return Client(
            *chosen,
            routes=self.routes,
            require_encryption=self.require_encryption,
            store=self.store,
            reader_lease=self.reader_lease,
            contacts=self.contacts,
        )

    def target(self, name: str) -> Address | Contact:
        """A contact by name, else an address; `UsageError` naming the likely contact."""
        if name in self.contacts:
            return self.contacts[name]
        if ":" not in name:
            raise UsageError(
                f"no contact named {name!r}{did_you_mean(name, list(self.contacts))}; "
                "an address looks like signal:+15551234567 or matrix:@alice:example.org"
            )
        return Address.parse(name)

    def adapters_for(self, target: Address | Contact) -> tuple[Adapter, ...]:
        """The adapters a send to ``target`` may use, best first.

        The client takes the first route that fits, except that an
        ``encrypted`` route may fall through to the next: so the adapters up
        to the first plain route's are all that a send can need.
        """
        chosen: list[Adapter] = []
        for route, adapter, _ in plan_routes(target, self.routes, self.adapters):
            if adapter not in chosen:
                chosen.append(adapter)
            if not route.encrypted:
                break
        return tuple(chosen)


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read and check ``path`` (default: ``$UNIMSG_CONFIG``, then ./unimsg.toml).

    Nothing connects: adapters are built, not started. `ConfigError` lists
    every problem, one line each, prefixed by the file's name.
    """
    candidates = [path] if path else [os.environ.get("UNIMSG_CONFIG"), *DEFAULT_PATHS]
    chosen = next((Path(p) for p in candidates if p and Path(p).is_file()), None)
    if chosen is None:
        wanted = path or "unimsg.toml (or $UNIMSG_CONFIG)"
        raise ConfigError(f"no configuration file at {wanted}; see docs/configuration.md")
    source = os.fspath(chosen)
    try:
        data = tomllib.loads(chosen.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read it: {exc.strerror}", source=source) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", source=source) from None
    try:
        config = parse_config(data, base_dir=chosen.parent)
    except ConfigError as exc:
        raise exc.within("", source=source) from None
    return attrs.evolve(config, source=source)


def parse_config(data: Mapping[str, Any], *, base_dir: Path = Path()) -> Config:
    """A `Config` from already parsed TOML; relative paths are under ``base_dir``."""
    problems: list[tuple[str, str]] = []
    for key in data:
        if key not in SECTIONS:
            problems.append((key, unknown_key(key, SECTIONS, "section")))
    adapters, names, fake_network = _adapters(data.get("adapters"), base_dir, problems)
    routes = _checked(
        problems, "routes", lambda: structure(data.get("routes", []), tuple[Route, ...])
    )
    raw_routes = data.get("routes", [])
    for index, route in enumerate(raw_routes if isinstance(raw_routes, list) else []):
        via = route.get("via") if isinstance(route, dict) else None
        # Checked on the raw table, so that a route with another bad key still gets this check.
        if isinstance(via, str) and via not in names:
            choices = sorted(n for n in names if ":" not in n)
            problems.append(
                (
                    f"routes[{index}].via",
                    f"no configured adapter {via!r}{did_you_mean(via, choices)}"
                    f" (configured: {', '.join(choices) or 'none'})",
                )
            )
    contacts = _contacts(data.get("contacts", {}), problems)
    settings = _checked(
        problems, "client", lambda: structure(data.get("client", {}), ClientSettings)
    )
    store = None if settings is None else _store(settings, base_dir, problems)
    if problems:
        raise ConfigError(problems)
    assert settings is not None and routes is not None
    return Config(
        adapters=tuple(adapters),
        routes=routes,
        contacts=contacts,
        require_encryption=settings.require_encryption,
        store=store,
        reader_lease=settings.reader_lease,
        fake_network=fake_network,
    )


def _store(
    settings: ClientSettings, base_dir: Path, problems: list[tuple[str, str]]
) -> Path | PostgresStore | None:
    if settings.reader_lease is not None and settings.reader_lease <= 0:
        problems.append(("client.reader_lease", "must be a positive number of seconds"))
    url, password_env = settings.store, settings.store_password_env
    if url is not None and url.startswith(("postgresql://", "postgres://")):
        try:
            return PostgresStore(url, password_env=password_env)
        except ValueError as exc:
            problems.append(("client.store", str(exc)))
            return None
    if password_env is not None:
        problems.append(("client.store_password_env", "goes with a postgresql:// store"))
    if url is None:
        return None
    path = Path(url).expanduser()
    return path if path.is_absolute() else base_dir / path


def _checked(problems: list[tuple[str, str]], where: str, make: Any) -> Any:
    try:
        return make()
    except ConfigError as exc:
        problems.extend(exc.within(where).problems)
        return None


def _adapters(
    tables: Any, base_dir: Path, problems: list[tuple[str, str]]
) -> tuple[list[Adapter], set[str], FakeNetwork | None]:
    adapters: list[Adapter] = []
    #: What a route's ``via`` may name, including adapters that failed to build (no echo).
    names: set[str] = set()
    fake_network: FakeNetwork | None = None
    if not isinstance(tables, list) or not tables:
        problems.append(("adapters", "the configuration needs at least one [[adapters]] table"))
        return adapters, names, None
    installed = adapter_names()
    for index, table in enumerate(tables):
        where = f"adapters[{index}]"
        kind = table.get("type") if isinstance(table, dict) else None
        if not isinstance(kind, str):
            problems.append((f"{where}.type", f"missing: one of {', '.join(installed)}"))
            continue
        if kind not in installed:
            problems.append(
                (
                    f"{where}.type",
                    f"unknown adapter {kind!r}{did_you_mean(kind, installed)} "
                    f"(installed: {', '.join(installed)})",
                )
            )
            continue
        try:
            if kind == "fake":
                if fake_network is None:
                    from .testing import FakeNetwork

                    fake_network = FakeNetwork()
                adapter = _fake(fake_network, table)
            else:
                factory = adapter_class(kind)
                if not issubclass(factory, Configurable):
                    problems.append(
                        (f"{where}.type", f"the {kind!r} adapter cannot be configured from a file")
                    )
                    continue
                adapter = factory.from_config(table, base_dir=base_dir)
        except ConfigError as exc:
            problems.extend(exc.within(where).problems)
            names.add(kind)
            continue
        except (AdapterNotFoundError, UsageError) as exc:
            problems.append((where, str(exc)))
            names.add(kind)
            continue
        adapters.append(adapter)
        names.update((adapter.network, adapter_name(adapter), str(adapter.account)))
    return adapters, names, fake_network


def _fake(network: FakeNetwork, table: Mapping[str, Any]) -> Adapter:
    settings = structure({k: v for k, v in table.items() if k != "type"}, FakeSettings)
    problems: list[tuple[str, str]] = []
    if not settings.account.is_person:
        problems.append(("account", f"{settings.account} is not a user address"))
    for index, peer in enumerate(settings.peers):
        if not peer.is_person:
            problems.append((f"peers[{index}]", f"{peer} is not a user address"))
    for index, room in enumerate(settings.rooms):
        if not room.address.is_group:
            problems.append((f"rooms[{index}].address", f"{room.address} is not a room or group"))
    if problems:
        raise ConfigError(problems)
    account = settings.account
    adapter = network.adapter(account.network, account, display_name=settings.display_name)
    for peer in settings.peers:
        network.adapter(peer.network, peer)
    for room in settings.rooms:
        network.create_room(
            room.address.network,
            address=room.address,
            creator=account,
            name=room.name,
            members=room.members,
            encrypted=room.encrypted,
        )
    return adapter


def _contacts(tables: Any, problems: list[tuple[str, str]]) -> ContactBook:
    if not isinstance(tables, dict):
        problems.append(("contacts", "expected [contacts.NAME] tables"))
        return ContactBook()
    contacts: list[Contact] = []
    for name, spec in tables.items():
        where = f"contacts.{name}"
        settings: ContactSettings | None = _checked(
            problems, where, lambda spec=spec: structure(spec, ContactSettings)
        )
        if settings is None:
            continue
        contact = Contact(name, settings.identities)
        if settings.kind is not None:
            try:
                check(contact, settings.kind)
            except ValueError as exc:
                problems.append((f"{where}.kind", str(exc)))
                continue
        contacts.append(contact)
    try:
        return ContactBook(contacts)
    except ValueError as exc:
        problems.append(("contacts", str(exc)))
        return ContactBook()
