"""Addresses: ``network:identifier`` strings as one value type.

The grammar is in docs/addresses.md. ``Address.parse`` accepts every form
listed there; ``str(address)`` gives the canonical form, which parses back to
an equal value.
"""

from __future__ import annotations

import enum
import functools
import re

import attrs

from ._exceptions import InvalidAddressError

__all__ = ["Address", "AddressKind"]


class AddressKind(enum.Enum):
    """What an address points at."""

    #: A person by a stable id: a Signal number or ACI, a Matrix user id.
    USER = "user"
    #: A Signal username (``name.42``), resolved by the network.
    USERNAME = "username"
    #: A group conversation: a Signal group or a Matrix room id.
    GROUP = "group"
    #: A Matrix room alias, resolved to a room id by the homeserver.
    ALIAS = "alias"


# Compiled on first use (`_re`): a program parses addresses of one or two networks.
_PATTERNS = {
    "e164": r"\+[1-9][0-9]{6,14}",
    "uuid": r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
    "username": r"[a-z_][a-z0-9_]{2,31}\.[0-9]{2,10}",
    "network": r"[a-z][a-z0-9_-]{0,31}",
    # Server name per the Matrix spec: DNS name, IPv4 or [IPv6], optional port.
    "server": (
        r"(?:\[[0-9A-Fa-f:.]{2,45}\]|[0-9]{1,3}(?:\.[0-9]{1,3}){3}|[A-Za-z0-9.-]{1,255})"
        r"(?::[0-9]{1,5})?"
    ),
    # Historical user ids allow any printable ASCII but ':' in the localpart.
    "localpart": r"[\x21-\x39\x3b-\x7e]+",
    "opaque": r"[\x21-\x39\x3b-\x7e]+",
}


@functools.cache
def _re(name: str) -> re.Pattern[str]:
    return re.compile(_PATTERNS[name])


_MATRIX_MAX_BYTES = 255
_SIGILS = {"@": AddressKind.USER, "!": AddressKind.GROUP, "#": AddressKind.ALIAS}
_URI_TYPES = {"u": "@", "roomid": "!", "r": "#"}


def _fail(text: str, why: str) -> InvalidAddressError:
    return InvalidAddressError(f"invalid address {text!r}: {why}")


@attrs.frozen(order=True, cache_hash=True)
class Address:
    """A person or conversation on one network, e.g. ``signal:+15551234567``.

    ``id`` is the network's own identifier: ``+15551234567``, an ACI uuid,
    ``alice.42`` (username), a base64 group id, ``@alice:example.org``,
    ``!room:example.org`` or ``#alias:example.org``.
    """

    network: str
    kind: AddressKind
    id: str

    @classmethod
    def parse(cls, text: str | Address) -> Address:
        """Parse ``text``; raise `InvalidAddressError` saying what is wrong."""
        if isinstance(text, Address):
            return text
        if not isinstance(text, str):
            raise InvalidAddressError(f"an address must be a str, not {type(text).__name__}")
        return _parse_text(text)

    @classmethod
    def signal(cls, number_or_uuid: str) -> Address:
        return cls.parse(f"signal:{number_or_uuid}")

    @classmethod
    def matrix(cls, matrix_id: str) -> Address:
        return cls.parse(f"matrix:{matrix_id}")

    @property
    def is_person(self) -> bool:
        return self.kind in (AddressKind.USER, AddressKind.USERNAME)

    @property
    def is_group(self) -> bool:
        return self.kind in (AddressKind.GROUP, AddressKind.ALIAS)

    def __str__(self) -> str:
        if self.network == "signal":
            if self.kind is AddressKind.USERNAME:
                return f"signal:u:{self.id}"
            if self.kind is AddressKind.GROUP:
                return f"signal:group:{self.id}"
            return f"signal:{self.id}"
        if self.network == "matrix" or self.kind is AddressKind.USER:
            return f"{self.network}:{self.id}"
        return f"{self.network}:{self.kind.value}:{self.id}"


# Applications pass the same few address strings again and again (``client.send("signal:+1...",
# ...)``); validating one takes ~4 µs of regular expressions, a look-up ~0.1. Addresses are
# frozen, so one parsed value serves every caller; errors are raised again, never kept.
@functools.lru_cache(maxsize=4096)
def _parse_text(text: str) -> Address:
    network, sep, rest = text.partition(":")
    if not sep:
        raise _fail(text, "expected 'network:identifier', e.g. 'signal:+15551234567'")
    if not _re("network").fullmatch(network):
        raise _fail(text, "the network name must be lower-case letters, digits, '-' or '_'")
    if not rest:
        raise _fail(text, "nothing after the network name")
    if network == "signal":
        return _parse_signal(text, rest)
    if network == "matrix":
        return _parse_matrix(text, rest)
    return _parse_other(text, network, rest)


def _parse_signal(text: str, rest: str) -> Address:
    if rest.startswith("u:"):
        name = rest[2:]
        if not _re("username").fullmatch(name):
            raise _fail(
                text,
                "a Signal username is 3-32 lower-case letters, digits or '_' (not starting with "
                "a digit), a dot and 2-10 digits, e.g. 'signal:u:alice.42'",
            )
        return Address("signal", AddressKind.USERNAME, name)
    if rest.startswith("group:"):
        import base64  # group ids only: base64 and binascii are not free to import
        import binascii

        group = rest[6:]
        try:
            raw = base64.b64decode(group, validate=True)
        except (binascii.Error, ValueError):
            raise _fail(text, "a Signal group id must be standard base64") from None
        if len(raw) not in (16, 32):
            raise _fail(text, f"a Signal group id decodes to 16 or 32 bytes, not {len(raw)}")
        return Address("signal", AddressKind.GROUP, group)
    if rest.startswith("+"):
        if not _re("e164").fullmatch(rest):
            raise _fail(text, "a phone number must be E.164: '+', country code, 7-15 digits")
        return Address("signal", AddressKind.USER, rest)
    lowered = rest.lower()
    if _re("uuid").fullmatch(lowered):
        return Address("signal", AddressKind.USER, lowered)
    if rest[:1].isdigit():
        raise _fail(text, "a phone number needs its '+' and country code, e.g. '+15551234567'")
    raise _fail(
        text,
        "expected '+E164', an ACI uuid, 'u:username' or 'group:<base64 id>' after 'signal:'",
    )


def _parse_matrix(text: str, rest: str) -> Address:
    if rest[:1] not in _SIGILS:
        kind, slash, tail = rest.partition("/")
        if not slash or kind not in _URI_TYPES:
            raise _fail(
                text,
                "expected '@user:server', '!room:server', '#alias:server' or a matrix: URI "
                "('u/', 'roomid/', 'r/')",
            )
        if "?" in tail or "/" in tail:
            raise _fail(text, "event links and URI query parameters are not addresses")
        from urllib.parse import unquote  # matrix: URIs only

        rest = _URI_TYPES[kind] + unquote(tail)
    sigil = rest[0]
    kind_ = _SIGILS[sigil]
    if len(rest.encode()) > _MATRIX_MAX_BYTES:
        raise _fail(text, f"Matrix ids are at most {_MATRIX_MAX_BYTES} bytes")
    local, colon, server = rest[1:].partition(":")
    # Room ids of room version 12 have no server part.
    if kind_ is AddressKind.GROUP and not colon:
        if not _re("opaque").fullmatch(local):
            raise _fail(text, "a room id is '!' followed by printable ASCII")
        return Address("matrix", kind_, rest)
    if not colon or not server:
        raise _fail(text, f"a Matrix id needs ':server' after '{sigil}{local}'")
    if not local:
        raise _fail(text, f"nothing between '{sigil}' and ':'")
    if not _re("server").fullmatch(server):
        raise _fail(text, f"{server!r} is not a valid server name")
    if kind_ is AddressKind.USER and not _re("localpart").fullmatch(local):
        raise _fail(text, "a user id's localpart is printable ASCII without ':'")
    if kind_ is not AddressKind.USER and not local.isprintable():
        raise _fail(text, "the id contains control characters")
    return Address("matrix", kind_, rest)


def _parse_other(text: str, network: str, rest: str) -> Address:
    # Networks of third-party adapters: 'net:id' for users, 'net:group:id' and so on.
    head, sep, tail = rest.partition(":")
    if sep and head in {k.value for k in AddressKind}:
        kind = AddressKind(head)
        rest = tail
    else:
        kind = AddressKind.USER
    if not rest or not rest.isprintable() or any(c.isspace() for c in rest):
        raise _fail(text, "the identifier must be non-empty printable text without spaces")
    return Address(network, kind, rest)
