"""What a Matrix account needs to connect: homeserver, credentials, store and policies."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, TypedDict

import attrs

from unimsg import Address, InvalidAddressError, UsageError, settings_from_table

from ._verification_types import VerificationPolicy

__all__ = ["InvitePolicy", "MatrixConfig", "MatrixSettings", "TrustPolicy"]

TrustPolicy = Literal["strict", "tofu", "always"]
InvitePolicy = Literal["never", "always"] | frozenset[str]

_TRUST = ("strict", "tofu", "always")


def _secret_repr(value: object) -> str:
    return "None" if value is None else "'[secure]'"


def _invite_policy(value: str | Iterable[str]) -> InvitePolicy:
    if value == "never":
        return "never"
    if value == "always":
        return "always"
    if isinstance(value, str):
        raise UsageError(
            f"invite_policy must be 'never', 'always' or a collection of user ids, not {value!r}"
        )
    users = frozenset(value)
    for user in users:
        _user_id(user)
    return users


def _user_id(value: str) -> str:
    try:
        address = Address.parse(value if value.startswith("matrix:") else f"matrix:{value}")
    except InvalidAddressError as exc:
        raise UsageError(f"{value!r} is not a Matrix user id like '@bot:example.org'") from exc
    if not address.is_person:
        raise UsageError(f"{value!r} is not a Matrix user id like '@bot:example.org'")
    return address.id


def _verification(value: Any) -> Any:
    if value == "none" or callable(value):
        return value
    if isinstance(value, str):
        raise UsageError(
            "verification must be 'none', a collection of user ids or an async callable, "
            f"not {value!r}"
        )
    return frozenset(_user_id(user) for user in value)


def _homeserver(value: str) -> str:
    value = value.rstrip("/")
    if not value.startswith(("https://", "http://")):
        raise UsageError(
            f"homeserver must be an http(s) URL, e.g. 'https://matrix.org', not {value!r}"
        )
    return value


def _trust(value: str) -> TrustPolicy:
    if value not in _TRUST:
        raise UsageError(f"trust_policy must be one of {', '.join(_TRUST)}, not {value!r}")
    return value  # type: ignore[return-value]


@attrs.frozen(kw_only=True)
class MatrixConfig:
    """Settings of one Matrix account.

    Give ``password`` (a device is created on the first login and reused
    afterwards), or an ``access_token`` with the ``device_id`` it belongs to.
    ``store_path`` holds the end-to-end keys and the sync position: keep it, and
    keep it private.
    """

    homeserver: str = attrs.field(converter=_homeserver)
    user_id: str = attrs.field(converter=_user_id)
    store_path: Path = attrs.field(converter=Path)
    password: str | None = attrs.field(default=None, repr=_secret_repr)
    access_token: str | None = attrs.field(default=None, repr=_secret_repr)
    device_id: str | None = None
    device_name: str = "unimsg"
    #: Deliver the recent history found on the very first sync instead of skipping it.
    replay_history: bool = False
    invite_policy: InvitePolicy = attrs.field(default="always", converter=_invite_policy)
    trust_policy: TrustPolicy = attrs.field(default="tofu", converter=_trust)
    #: Seconds a single HTTP request may take.
    request_timeout: float = 30.0
    #: Milliseconds the server may hold a sync open waiting for events.
    sync_timeout_ms: int = 30_000
    #: Timeline events per room in one sync; gaps beyond it are paginated.
    timeline_limit: int = 50
    #: Longest wait between reconnection attempts, in seconds.
    max_backoff: float = 30.0
    #: Make and publish cross-signing keys on the first start and sign this device with
    #: them, so that other clients show it as verified by its owner (docs/matrix.md).
    cross_signing: bool = True
    #: Back up room keys to the server (only with ``cross_signing``).
    key_backup: bool = True
    #: The account's recovery key, for a new machine or a wiped store.
    recovery_key: str | None = attrs.field(default=None, repr=_secret_repr)
    #: Where the first start writes a new recovery key (0600); default
    #: ``store_path / "recovery-key.txt"``. Move it off the machine afterwards.
    recovery_key_path: Path | None = attrs.field(
        default=None, converter=attrs.converters.optional(Path)
    )
    #: Replace the account's cross-signing keys, secret storage and backup.
    reset_cross_signing: bool = False
    #: Interactive verification (SAS) started by other clients: ``"none"`` refuses it;
    #: user ids are accepted without asking; an async callable is shown the emoji
    #: (a `SasVerification`) and returns whether they match.
    verification: VerificationPolicy = attrs.field(
        default="none", converter=_verification, eq=False
    )

    def __attrs_post_init__(self) -> None:
        if self.password is None and self.access_token is None:
            raise UsageError("MatrixConfig needs a password or an access_token")
        if self.access_token is not None and self.device_id is None:
            raise UsageError("an access_token belongs to one device: give its device_id as well")
        if self.timeline_limit < 1:
            raise UsageError("timeline_limit must be at least 1")
        if self.reset_cross_signing and not self.cross_signing:
            raise UsageError("reset_cross_signing needs cross_signing = true")

    @classmethod
    def from_mapping(
        cls, table: Mapping[str, Any], *, base_dir: Path | None = None
    ) -> MatrixConfig:
        """Build from a TOML/JSON table, strictly; `unimsg.ConfigError` lists every problem.

        Secrets come from the environment: ``password_env = "MATRIX_PASSWORD"``
        reads the password from that variable (``access_token_env`` and
        ``recovery_key_env`` likewise);
        a password or token written in the table is refused. A relative
        ``store_path`` is taken relative to ``base_dir`` (the file's folder).
        """
        return settings_from_table(
            cls, table, secrets=("password", "access_token", "recovery_key"), base_dir=base_dir
        )


class MatrixSettings(TypedDict, total=False):
    """The keyword arguments of ``MatrixAdapter(...)``: `MatrixConfig`'s fields."""

    homeserver: str
    user_id: str
    store_path: str | os.PathLike[str]
    password: str | None
    access_token: str | None
    device_id: str | None
    device_name: str
    replay_history: bool
    invite_policy: str | Iterable[str]
    trust_policy: TrustPolicy
    request_timeout: float
    sync_timeout_ms: int
    timeline_limit: int
    max_backoff: float
    cross_signing: bool
    key_backup: bool
    recovery_key: str | None
    recovery_key_path: str | os.PathLike[str] | None
    reset_cross_signing: bool
    verification: str | Iterable[str] | VerificationPolicy
