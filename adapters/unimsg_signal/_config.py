"""What a Signal account needs to reach its signal-cli daemon, and how to behave."""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

import attrs

from unimsg import Address, InvalidAddressError, UsageError

__all__ = ["Endpoint", "SignalConfig", "TrustPolicy"]

TrustPolicy = Literal["strict", "tofu", "always"]
_TRUST = ("strict", "tofu", "always")


def _secret_repr(value: object) -> str:
    return "None" if value is None else "'[secure]'"


@attrs.frozen
class Endpoint:
    """Where the daemon listens: ``tcp://HOST:PORT``, ``unix:///PATH``,
    ``http(s)://HOST:PORT`` or ``stdio:COMMAND``.

    ``str()`` never shows credentials; they are split off into the config.
    """

    kind: Literal["tcp", "unix", "http", "stdio"]
    host: str | None = None
    port: int | None = None
    path: str | None = None
    url: str | None = None
    command: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str, *, base_dir: Path | None = None) -> Endpoint:
        return _parse_endpoint(text, base_dir)[0]

    def __str__(self) -> str:
        if self.kind == "tcp":
            return f"tcp://{self.host}:{self.port}"
        if self.kind == "unix":
            return f"unix://{self.path}"
        if self.kind == "http":
            return str(self.url)
        return "stdio:" + shlex.join(self.command)


def _parse_endpoint(text: str, base_dir: Path | None) -> tuple[Endpoint, str | None, str | None]:
    """The endpoint and any ``user:password`` found in an http URL."""
    if text.startswith("stdio:"):
        command = tuple(shlex.split(text[6:]))
        if not command:
            raise UsageError("stdio: needs a command, e.g. 'stdio:signal-cli'")
        return Endpoint("stdio", command=command), None, None
    parts = urlsplit(text)
    if parts.scheme == "tcp":
        if not parts.hostname or parts.port is None:
            raise UsageError(
                f"a tcp endpoint needs host and port, e.g. tcp://127.0.0.1:7583: {text}"
            )
        return Endpoint("tcp", host=parts.hostname, port=parts.port), None, None
    if parts.scheme == "unix":
        raw = unquote(parts.netloc + parts.path)
        if not raw:
            raise UsageError("a unix endpoint needs a path, e.g. unix:///run/signal-cli/socket")
        path = Path(raw).expanduser()
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        return Endpoint("unix", path=str(path)), None, None
    if parts.scheme in ("http", "https"):
        if not parts.hostname:
            raise UsageError(f"an http endpoint needs a host, e.g. http://127.0.0.1:8080: {text}")
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        netloc = host if parts.port is None else f"{host}:{parts.port}"
        base = f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}"
        user = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password else None
        return Endpoint("http", url=base), user, password
    raise UsageError(
        f"unknown signal-cli endpoint {text.split('@')[-1]!r}: use tcp://HOST:PORT, "
        "unix:///PATH, http://HOST:PORT or stdio:COMMAND"
    )


def _endpoint(value: str | Endpoint) -> Endpoint:
    return value if isinstance(value, Endpoint) else Endpoint.parse(value)


def _number(value: str) -> str:
    text = value[7:] if value.startswith("signal:") else value
    try:
        address = Address.parse(f"signal:{text}")
    except InvalidAddressError as exc:
        raise UsageError(
            f"account must be the account's phone number, e.g. '+15551234567': {exc}"
        ) from None
    if not address.id.startswith("+"):
        raise UsageError(f"account must be the account's phone number, not {value!r}")
    return address.id


def _trust(value: str) -> TrustPolicy:
    if value not in _TRUST:
        raise UsageError(f"trust_policy must be one of {', '.join(_TRUST)}, not {value!r}")
    return value  # type: ignore[return-value]


@attrs.frozen(kw_only=True)
class SignalConfig:
    """Settings of one Signal account served by signal-cli.

    ``url`` names the daemon (see `Endpoint`). Run the daemon with
    ``--receive-mode=manual`` so that nothing is received (and lost) while
    unimsg is not connected; docs/signal.md lists the exact commands.
    """

    account: str = attrs.field(converter=_number)
    url: Endpoint = attrs.field(default=Endpoint("tcp", "127.0.0.1", 7583), converter=_endpoint)
    #: The daemon was started without ``-a`` and serves several accounts.
    multi_account: bool = False
    trust_policy: TrustPolicy = attrs.field(default="tofu", converter=_trust)
    #: Seconds one JSON-RPC call may take (sends go to every group member).
    request_timeout: float = 60.0
    #: ``getAttachment`` returns the whole file base64-encoded in one answer.
    attachment_timeout: float = 180.0
    connect_timeout: float = 10.0
    #: The HTTP event stream sends a keep-alive every 15 s; silence longer than this is a
    #: dead stream and triggers a reconnect.
    keepalive_timeout: float = 45.0
    #: Envelopes read from the daemon but not yet taken by the application; when this
    #: many wait, the adapter stops reading (the daemon's connection slows down).
    event_buffer: int = 256
    min_backoff: float = 0.5
    max_backoff: float = 30.0
    #: After this many seconds without a connection, ``run`` gives up with ConnectError
    #: (``None``: retry forever).
    give_up_after: float | None = 600.0
    #: Credentials of a reverse proxy in front of ``daemon --http`` (signal-cli has none).
    http_username: str | None = None
    http_password: str | None = attrs.field(default=None, repr=_secret_repr)
    http_token: str | None = attrs.field(default=None, repr=_secret_repr)

    def __attrs_post_init__(self) -> None:
        if self.request_timeout <= 0 or self.connect_timeout <= 0:
            raise UsageError("timeouts must be positive")
        if self.event_buffer < 1:
            raise UsageError("event_buffer must be at least 1")
        if self.min_backoff <= 0 or self.max_backoff < self.min_backoff:
            raise UsageError("need 0 < min_backoff <= max_backoff")

    @classmethod
    def create(
        cls, account: str, url: str = "tcp://127.0.0.1:7583", **options: Any
    ) -> SignalConfig:
        """Like the constructor, but credentials inside an http URL move to the config."""
        endpoint, user, password = _parse_endpoint(url, options.pop("base_dir", None))
        if user is not None:
            options.setdefault("http_username", user)
        if password is not None:
            options.setdefault("http_password", password)
        return cls(account=account, url=endpoint, **options)

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any], *, base_dir: Path = Path()) -> SignalConfig:
        """Build from a TOML table; ``*_env`` keys name environment variables with secrets."""
        values = {k: v for k, v in table.items() if k != "type"}
        for secret in ("http_password", "http_token"):
            env = values.pop(f"{secret}_env", None)
            if env is None:
                continue
            if env not in os.environ:
                raise UsageError(f"{secret}_env names {env!r}, but that variable is not set")
            values[secret] = os.environ[env]
        if "account" not in values:
            raise UsageError("a signal adapter needs account = '+15551234567'")
        known = {f.name for f in attrs.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise UsageError(f"unknown signal adapter keys: {', '.join(unknown)}")
        url = values.pop("url", "tcp://127.0.0.1:7583")
        return cls.create(values.pop("account"), url, base_dir=base_dir, **values)
