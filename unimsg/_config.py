"""The TOML configuration file shared by the command line and applications.

See docs/configuration.md for the format. Secrets never sit in the file:
adapters read them from the environment variables the file names.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from ._adapter import Adapter, Configurable
from ._address import Address
from ._client import Client
from ._contacts import ContactBook
from ._exceptions import UsageError
from ._postgres import PostgresStore
from ._registry import adapter_class
from ._router import Contact, Route

__all__ = ["Config", "ConfigError", "load_config"]

DEFAULT_PATHS = ("unimsg.toml",)


class ConfigError(UsageError):
    """The configuration file is missing, unreadable or inconsistent."""


@attrs.frozen(kw_only=True)
class Config:
    adapters: tuple[Adapter, ...]
    routes: tuple[Route, ...] = ()
    contacts: ContactBook = attrs.field(factory=ContactBook)
    require_encryption: bool = False
    #: The client's store (``[client] store``: an SQLite file or a PostgreSQL URL), else memory.
    store: Path | PostgresStore | None = None
    #: Seconds of the reader lease (``[client] reader_lease``) for processes sharing a store.
    reader_lease: float | None = None
    #: The shared in-process network of ``type = "fake"`` adapters, if any.
    fake_network: Any = None

    def client(self) -> Client:
        return Client(
            *self.adapters,
            routes=self.routes,
            require_encryption=self.require_encryption,
            store=self.store,
            reader_lease=self.reader_lease,
        )

    def target(self, name: str) -> Address | Contact:
        """A contact by name, else an address."""
        if name in self.contacts:
            return self.contacts[name]
        return Address.parse(name)


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read ``path`` (default: ``$UNIMSG_CONFIG``, then ./unimsg.toml)."""
    candidates = [path] if path else [os.environ.get("UNIMSG_CONFIG"), *DEFAULT_PATHS]
    chosen = next((Path(p) for p in candidates if p and Path(p).is_file()), None)
    if chosen is None:
        wanted = path or "unimsg.toml (or $UNIMSG_CONFIG)"
        raise ConfigError(f"no configuration file at {wanted}; see docs/configuration.md")
    try:
        data = tomllib.loads(chosen.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {chosen}: {exc}") from exc
    return parse_config(data, base_dir=chosen.parent)


def parse_config(data: Mapping[str, Any], *, base_dir: Path = Path()) -> Config:
    tables = data.get("adapters", [])
    if not isinstance(tables, list) or not tables:
        raise ConfigError("the configuration needs at least one [[adapters]] table")
    fake_network = None
    adapters: list[Adapter] = []
    for table in tables:
        kind = table.get("type")
        if not isinstance(kind, str):
            raise ConfigError("every [[adapters]] table needs type = 'matrix' | 'signal' | 'fake'")
        if kind == "fake":
            from .testing import FakeNetwork

            fake_network = fake_network or FakeNetwork()
            account = Address.parse(table.get("account", ""))
            adapters.append(fake_network.adapter(account.network, account))
            for peer in table.get("peers", []):
                peer_address = Address.parse(peer)
                fake_network.adapter(peer_address.network, peer_address)
            continue
        factory = adapter_class(kind)
        if not issubclass(factory, Configurable):
            raise ConfigError(f"the {kind!r} adapter cannot be configured from a file")
        adapters.append(factory.from_config(dict(table), base_dir=base_dir))
    routes = tuple(Route(**r) for r in data.get("routes", []))
    try:
        contacts = ContactBook.from_tables(data.get("contacts", {}))
    except ValueError as exc:
        raise ConfigError(f"contacts: {exc}") from exc
    options = data.get("client", {})
    store = options.get("store")
    if store is not None and not isinstance(store, str):
        raise ConfigError(
            "[client] store is a file path or a PostgreSQL URL, e.g. store = 'state.db'"
        )
    password_env = options.get("store_password_env")
    if password_env is not None and not isinstance(password_env, str):
        raise ConfigError("[client] store_password_env names an environment variable")
    chosen: Path | PostgresStore | None = None
    if store is not None and store.startswith(("postgresql://", "postgres://")):
        try:
            chosen = PostgresStore(store, password_env=password_env)
        except ValueError as exc:
            raise ConfigError(f"[client] store: {exc}") from None
    elif store is not None:
        if password_env is not None:
            raise ConfigError("[client] store_password_env goes with a postgresql:// store")
        chosen = base_dir / Path(store).expanduser()
    lease = options.get("reader_lease")
    if lease is not None and (not isinstance(lease, int | float) or lease <= 0):
        raise ConfigError("[client] reader_lease is a positive number of seconds")
    return Config(
        adapters=tuple(adapters),
        routes=routes,
        contacts=contacts,
        require_encryption=bool(options.get("require_encryption", False)),
        store=chosen,
        reader_lease=None if lease is None else float(lease),
        fake_network=fake_network,
    )
