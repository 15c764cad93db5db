"""Cross-signing keys (client-server API, "Cross-signing"): make, publish, sign with.

The master key signs the self-signing key (which signs our devices) and the
user-signing key (which signs other users' master keys). Signatures are
Ed25519 over the canonical JSON of the object without ``signatures`` and
``unsigned``, as for device keys.
"""

from __future__ import annotations

import base64
import copy
import logging
import secrets
from typing import Any

import canonicaljson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from unimsg import AuthenticationError, NotSupportedError, RemoteError

from ._crypto_errors import CrossSigningError
from ._redact import remember_secret
from ._session import Session

__all__ = [
    "CrossSigningKeys",
    "SigningKey",
    "b64",
    "public_key_of",
    "sign_object",
    "signed_by",
    "unb64",
]

log = logging.getLogger("unimsg.matrix")

KEYS_QUERY = "/_matrix/client/v3/keys/query"
SIGNING_UPLOAD = "/_matrix/client/v3/keys/device_signing/upload"
SIGNATURES_UPLOAD = "/_matrix/client/v3/keys/signatures/upload"


def b64(data: bytes) -> str:
    """Unpadded base64, the encoding of every key and signature in Matrix."""
    return base64.b64encode(data).decode("ascii").rstrip("=")


def unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def _signable(obj: dict[str, Any]) -> bytes:
    body = {k: v for k, v in obj.items() if k not in ("signatures", "unsigned")}
    return bytes(canonicaljson.encode_canonical_json(body))


class SigningKey:
    """An Ed25519 key pair from its 32-byte seed; repr and str never show the seed."""

    __slots__ = ("_private", "public")

    def __init__(self, seed: bytes) -> None:
        self._private = Ed25519PrivateKey.from_private_bytes(seed)
        self.public = b64(self._private.public_key().public_bytes_raw())
        remember_secret(self.seed_b64)

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(secrets.token_bytes(32))

    @classmethod
    def from_b64(cls, text: str) -> SigningKey:
        return cls(unb64(text))

    @property
    def seed_b64(self) -> str:
        return b64(self._private.private_bytes_raw())

    def sign(self, obj: dict[str, Any], user_id: str) -> dict[str, Any]:
        """A copy of ``obj`` with this key's signature added."""
        signed = copy.deepcopy(obj)
        signature = b64(self._private.sign(_signable(obj)))
        signed.setdefault("signatures", {}).setdefault(user_id, {})[f"ed25519:{self.public}"] = (
            signature
        )
        return signed

    def __repr__(self) -> str:
        return f"<SigningKey {self.public}>"

    __str__ = __repr__


def sign_object(obj: dict[str, Any], user_id: str, key: SigningKey) -> dict[str, Any]:
    return key.sign(obj, user_id)


def signed_by(obj: dict[str, Any], user_id: str, key_id: str, public_b64: str) -> bool:
    """Whether ``obj`` carries a valid signature of ``user_id``'s key ``ed25519:key_id``."""
    signatures = obj.get("signatures")
    by_user = signatures.get(user_id) if isinstance(signatures, dict) else None
    signature = by_user.get(f"ed25519:{key_id}") if isinstance(by_user, dict) else None
    if not isinstance(signature, str):
        return False
    try:
        Ed25519PublicKey.from_public_bytes(unb64(public_b64)).verify(
            unb64(signature), _signable(obj)
        )
    except (InvalidSignature, ValueError):
        return False
    return True


def public_key_of(key_object: object) -> str | None:
    """The Ed25519 public key of a published cross-signing key object."""
    keys = key_object.get("keys") if isinstance(key_object, dict) else None
    if not isinstance(keys, dict) or len(keys) != 1:
        return None
    value = next(iter(keys.values()))
    return value if isinstance(value, str) else None


class CrossSigningKeys:
    """The three private cross-signing keys of one account."""

    __slots__ = ("master", "self_signing", "user_signing")

    SECRETS = (
        ("master", "m.cross_signing.master"),
        ("self_signing", "m.cross_signing.self_signing"),
        ("user_signing", "m.cross_signing.user_signing"),
    )

    def __init__(
        self, master: SigningKey, self_signing: SigningKey, user_signing: SigningKey
    ) -> None:
        self.master = master
        self.self_signing = self_signing
        self.user_signing = user_signing

    @classmethod
    def generate(cls) -> CrossSigningKeys:
        return cls(SigningKey.generate(), SigningKey.generate(), SigningKey.generate())

    def __repr__(self) -> str:
        return f"<CrossSigningKeys master {self.master.public}>"

    def objects(self, user_id: str) -> dict[str, dict[str, Any]]:
        """The public key objects as /keys/device_signing/upload wants them."""

        def key(usage: str, signing: SigningKey) -> dict[str, Any]:
            return {
                "user_id": user_id,
                "usage": [usage],
                "keys": {f"ed25519:{signing.public}": signing.public},
            }

        return {
            "master_key": key("master", self.master),
            "self_signing_key": self.master.sign(key("self_signing", self.self_signing), user_id),
            "user_signing_key": self.master.sign(key("user_signing", self.user_signing), user_id),
        }

    def matches(self, published: dict[str, Any], user_id: str) -> bool:
        """Whether the server publishes exactly these keys for ``user_id``."""
        return (
            public_key_of(published.get("master_keys", {}).get(user_id)) == self.master.public
            and public_key_of(published.get("self_signing_keys", {}).get(user_id))
            == self.self_signing.public
        )


async def query_keys(session: Session, user_id: str) -> dict[str, Any]:
    return await session.request(
        "POST", KEYS_QUERY, {"device_keys": {user_id: []}}, f"query the keys of {user_id}"
    )


async def upload_keys(session: Session, keys: CrossSigningKeys, password: str | None) -> None:
    """Publish ``keys``, answering the server's user-interactive auth with the password."""
    body: dict[str, Any] = keys.objects(session.user_id)
    action = "upload cross-signing keys"
    status, answer = await session.request_status(
        "POST", SIGNING_UPLOAD, body, action, accept=frozenset({401, 404, 405})
    )
    if status in (404, 405) or answer.get("errcode") == "M_UNRECOGNIZED":
        raise NotSupportedError(
            "matrix",
            "cross-signing on this homeserver",
            "it does not offer /keys/device_signing/upload; set cross_signing = false",
        )
    if status != 401:
        return
    flows = answer.get("flows")
    flows = flows if isinstance(flows, list) else []
    if not any(isinstance(f, dict) and f.get("stages") == ["m.login.password"] for f in flows):
        raise CrossSigningError(
            "the homeserver asks for an interactive authentication that unimsg cannot do "
            "to upload cross-signing keys (no password-only flow offered)"
        )
    if password is None:
        raise AuthenticationError(
            "the homeserver asks for the account password to upload cross-signing keys: "
            "give MatrixConfig.password (or password_env), or set cross_signing = false"
        )
    body["auth"] = {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": session.user_id},
        "password": password,
        "session": answer.get("session"),
    }
    status, answer = await session.request_status(
        "POST", SIGNING_UPLOAD, body, action, accept=frozenset({401})
    )
    if status == 401:
        raise AuthenticationError(f"{action} failed: the homeserver refused the password")


async def upload_signatures(session: Session, signed: dict[str, dict[str, Any]], what: str) -> None:
    """Publish signatures: ``{key id or device id: signed object}`` of our own user."""
    answer = await session.request(
        "POST", SIGNATURES_UPLOAD, {session.user_id: signed}, f"upload the signature of {what}"
    )
    failures = answer.get("failures")
    if failures:
        reasons = {
            key: (value.get("errcode") if isinstance(value, dict) else value)
            for user in failures.values()
            if isinstance(user, dict)
            for key, value in user.items()
        }
        raise RemoteError(f"the homeserver refused the signature of {what}: {reasons}")
