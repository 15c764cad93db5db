"""Every error unimsg raises, in one tree.

    UnimsgError
    ├── UsageError                  you did it wrong (local, fix the call)
    │   ├── InvalidArgumentError    also a ValueError (out of range, duplicate, conflicting)
    │   ├── InvalidAddressError     also a ValueError
    │   ├── InvalidContentError     also a ValueError (e.g. message too large)
    │   ├── NoRouteError            no route fits the target
    │   ├── NotSupportedError       the network or adapter lacks the feature
    │   ├── ClosedError             the client or adapter is not open
    │   ├── AdapterNotFoundError    unknown adapter name or missing extra
│   ├── ConcurrentReaderError   a second reader of one client's events
│   ├── StoreVersionError       the store was written by a newer unimsg
│   └── ConfigError             bad configuration (also a ValueError); one line per problem
    ├── RemoteError                 the network or the daemon did it
    │   ├── ConnectError            cannot reach it, or the connection dropped
    │   ├── AuthenticationError     credentials refused
    │   ├── RateLimitedError        slow down; ``retry_after`` seconds (adapters may
    │   │                           subclass it with network detail, e.g. a captcha)
    │   ├── RemoteProtocolError     it answered something we cannot read
    │   ├── NotFoundError           unknown conversation, message or user
    │   │   └── UnknownIdentityError no identity key of that person is known yet
    │   ├── OutcomeUnknownError     sent, but whether it took effect is unknown
    │   ├── PermissionDeniedError   not allowed in that conversation
    │   └── DeliveryError           the send failed for every recipient
    │       ├── UnregisteredRecipientError
    │       └── UntrustedIdentityError
    └── EncryptionError             end-to-end encryption stands in the way
        ├── EncryptionRequiredError the conversation is not encrypted
        ├── UnverifiedDevicesError  the trust policy refuses unverified devices
        └── DecryptionError         a message could not be decrypted

Messages say what went wrong and, where possible, how to fix it. No error
carries a secret: adapters redact tokens and passwords before raising.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._address import Address
    from ._recipients import RecipientResult


class UnimsgError(Exception):
    """Root of every error raised by unimsg and its adapters."""


class UsageError(UnimsgError):
    """The caller asked for something that cannot work; nothing was sent."""


class InvalidArgumentError(UsageError, ValueError):
    """An argument's value cannot work: out of range, a duplicate, or in conflict with another."""


class InvalidAddressError(UsageError, ValueError):
    """An address string or value does not follow the address grammar."""


class InvalidContentError(UsageError, ValueError):
    """Message content the network would refuse (too large, malformed)."""


class NoRouteError(UsageError):
    """No route (and no adapter) can carry a message to the target."""

    def __init__(self, target: object, tried: Sequence[str] = ()) -> None:
        self.target = target
        self.tried = tuple(tried)
        rules = "; ".join(self.tried) if self.tried else "no routes and no adapter of that network"
        super().__init__(f"no route to {target}: tried {rules}")


class NotSupportedError(UsageError):
    """The adapter's network has no such feature."""

    def __init__(self, network: str, feature: str, hint: str = "") -> None:
        self.network = network
        self.feature = feature
        message = f"{network} does not support {feature}"
        super().__init__(f"{message}: {hint}" if hint else message)


class ClosedError(UsageError):
    """The client or adapter is closed, or was never opened."""


class AdapterNotFoundError(UsageError):
    """No adapter of that name is installed, or the client holds none of that name."""


class ConcurrentReaderError(UsageError):
    """A client's events already have a reader (a bot, an ``events()`` loop).

    Two readers would each get part of the stream and acknowledge what the
    other has not handled; one reader per client, with handlers on a `Bot`.
    """


class StoreVersionError(UsageError):
    """The store's schema is newer than this unimsg understands; upgrade unimsg."""


class ConfigError(UsageError, ValueError):
    """Settings or a configuration file that cannot work; ``problems`` lists each one.

    Each problem is ``(path, message)``: ``path`` names the table and key
    (``routes[1].encryptd``), empty for the whole file. ``str()`` gives one line
    per problem, prefixed by the file's name when the problems come from a file.
    """

    def __init__(
        self, problems: str | Sequence[tuple[str, str]], *, source: str | None = None
    ) -> None:
        self.problems = (("", problems),) if isinstance(problems, str) else tuple(problems)
        self.source = source
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        """One line per problem: ``source: path: message``."""
        return [
            ": ".join(part for part in (self.source, path, message) if part)
            for path, message in self.problems
        ]

    def within(self, prefix: str, *, source: str | None = None) -> ConfigError:
        """The same problems, their paths under ``prefix`` (``adapters[0]``)."""
        moved = [(_join(prefix, path), message) for path, message in self.problems]
        return ConfigError(moved, source=source or self.source)


def _join(prefix: str, path: str) -> str:
    if not prefix or not path:
        return prefix or path
    return f"{prefix}{path}" if path.startswith("[") else f"{prefix}.{path}"


class RemoteError(UnimsgError):
    """The network, homeserver or daemon failed or refused."""


class ConnectError(RemoteError):
    """The server cannot be reached, or the connection was lost."""


class AuthenticationError(RemoteError):
    """The server refused the credentials."""


class RateLimitedError(RemoteError):
    """The server asks us to slow down.

    ``retry_after`` is in seconds (``None`` when the server gave no hint).
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class RemoteProtocolError(RemoteError):
    """The server answered something that does not follow its protocol."""


class NotFoundError(RemoteError):
    """The conversation, message or user does not exist (or is not visible)."""


class UnknownIdentityError(NotFoundError):
    """No identity key of that person is known yet, so there is nothing to trust.

    Keys are learned from the first message exchanged (or a profile fetch).
    """


class OutcomeUnknownError(RemoteError):
    """The request went out, but whether it took effect is unknown.

    Raised when the answer was lost (a timeout or a dropped connection after
    the request was written) or the server failed part-way (some recipients
    may have the message). On networks without idempotent sends (Signal) a
    retry can deliver a second copy: check before sending again.
    """


class PermissionDeniedError(RemoteError):
    """The account may not do that in this conversation."""


class DeliveryError(RemoteError):
    """The message reached no recipient.

    ``results`` holds each recipient's outcome.
    """

    def __init__(self, message: str, results: Sequence[RecipientResult] = ()) -> None:
        self.results = tuple(results)
        super().__init__(message)


class UnregisteredRecipientError(DeliveryError):
    """The recipient has no account on the network."""


class UntrustedIdentityError(DeliveryError):
    """The recipient's identity key changed and is not trusted yet."""

    def __init__(
        self,
        message: str,
        results: Sequence[RecipientResult] = (),
        *,
        recipient: Address | None = None,
    ) -> None:
        self.recipient = recipient
        super().__init__(message, results)


class EncryptionError(UnimsgError):
    """End-to-end encryption prevents the operation."""


class EncryptionRequiredError(EncryptionError):
    """Encryption was required but the conversation is not encrypted."""


class UnverifiedDevicesError(EncryptionError):
    """The trust policy refuses to encrypt for unverified devices."""

    def __init__(self, message: str, users: Sequence[Address] = ()) -> None:
        self.users = tuple(users)
        super().__init__(message)


class DecryptionError(EncryptionError):
    """A message could not be decrypted."""
