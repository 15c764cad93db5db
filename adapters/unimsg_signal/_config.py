"""What a Signal account needs to reach its signal-cli daemon, and how to behave."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypedDict, Unpack
from urllib.parse import unquote, urlsplit

import attrs

from unimsg import (
    Address,
    ConfigError,
    InvalidAddressError,
    UsageError,
    settings_from_keywords,
    settings_from_table,
)

__all__ = ["Endpoint", "SignalConfig", "SignalOptions", "TrustPolicy"]

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
        cls,
        account: str,
        url: str | Endpoint = "tcp://127.0.0.1:7583",
        **options: Unpack[SignalOptions],
    ) -> SignalConfig:
        """Like the constructor, but credentials inside an http URL move to the config."""
        if isinstance(url, Endpoint):
            return settings_from_keywords(cls, {"account": account, "url": url, **options})
        endpoint, user, password = _parse_endpoint(url, None)
        settings: dict[str, Any] = {"account": account, "url": endpoint, **options}
        if user is not None:
            settings.setdefault("http_username", user)
        if password is not None:
            settings.setdefault("http_password", password)
        return settings_from_keywords(cls, settings)

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any], *, base_dir: Path = Path()) -> SignalConfig:
        """Build from a TOML table, strictly; `unimsg.ConfigError` lists every problem.

        Secrets come from the environment (``http_password_env``,
        ``http_token_env``); written in the table, or inside the URL, they are refused.
        """
        values = dict(table)
        problems: list[tuple[str, str]] = []
        url = values.get("url")
        if isinstance(url, str):
            try:
                endpoint, user, password = _parse_endpoint(url, base_dir)
            except UsageError as exc:
                problems.append(("url", str(exc)))
                del values["url"]
            else:
                if password is not None:
                    problems.append(
                        (
                            "url",
                            "a password inside the URL: give http_username and "
                            'http_password_env = "VARIABLE" instead',
                        )
                    )
                if user is not None:
                    values.setdefault("http_username", user)
                values["url"] = endpoint
        elif "url" in values:
            # A table would be read as the parsed form; the file only ever holds the URL.
            problems.append(
                ("url", f"expected a URL string, e.g. 'tcp://127.0.0.1:7583', got {url!r}")
            )
            del values["url"]
        try:
            config = settings_from_table(
                cls, values, secrets=("http_password", "http_token"), base_dir=base_dir
            )
        except ConfigError as exc:
            raise ConfigError([*problems, *exc.problems]) from None
        if problems:
            raise ConfigError(problems)
        return config


class SignalOptions(TypedDict, total=False):
    """The keyword options of ``SignalAdapter.create``: `SignalConfig`'s other fields."""

    multi_account: bool
    trust_policy: TrustPolicy
    request_timeout: float
    attachment_timeout: float
    connect_timeout: float
    keepalive_timeout: float
    event_buffer: int
    min_backoff: float
    max_backoff: float
    give_up_after: float | None
    http_username: str | None
    http_password: str | None
    http_token: str | None
