"""Keeping access tokens and passwords out of messages and logs.

matrix-nio logs whole responses at DEBUG (the login response carries the
access token) and its SQLite store logs the pickled Olm account; a filter on
those loggers scrubs them, so that turning on DEBUG logging never leaks a
credential.
"""

from __future__ import annotations

import logging
import re

__all__ = ["forget_secret", "install_log_filter", "redact", "remember_secret"]

_FIELDS = re.compile(
    r"""(["']?(?:access_token|password|refresh_token)["']?\s*[:=]\s*["']?)[^"'\s&,}]+""", re.I
)
_BEARER = re.compile(r"(Bearer\s+)[^\s\"',}]+", re.I)
_SECRETS: set[str] = set()
_SECURE = "[secure]"


def remember_secret(secret: str | None) -> None:
    """Scrub this exact value wherever it appears, whatever the field is called."""
    if secret and len(secret) >= 6:
        _SECRETS.add(secret)


def forget_secret(secret: str | None) -> None:
    _SECRETS.discard(secret or "")


def redact(text: str) -> str:
    text = _BEARER.sub(rf"\1{_SECURE}", _FIELDS.sub(rf"\1{_SECURE}", text))
    for secret in _SECRETS:
        if secret in text:
            text = text.replace(secret, _SECURE)
    return text


def _scrub_blobs(value: object) -> object:
    if isinstance(value, bytes | bytearray | memoryview):
        return b"[secure]"
    if isinstance(value, list | tuple):
        return type(value)(_scrub_blobs(v) for v in value)
    return value


class _Redactor(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "peewee" and isinstance(record.msg, tuple):
            # SQL parameters hold pickled keys; the statements alone are still useful.
            record.msg = _scrub_blobs(record.msg)
            return True
        try:
            message = record.getMessage()
        except Exception:
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, ()
        return True


_FILTER = _Redactor()


def install_log_filter() -> None:
    """Attach the filter to nio's loggers and the SQL logger of its store (idempotent)."""
    names = [n for n in logging.root.manager.loggerDict if n == "nio" or n.startswith("nio.")]
    for name in [*names, "peewee"]:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
