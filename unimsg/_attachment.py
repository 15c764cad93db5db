"""Attachments: a file to send, or one that was received."""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from ._exceptions import InvalidContentError

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["Attachment"]


def _to_bytes(value: bytes | bytearray | memoryview | None) -> bytes | None:
    return None if value is None else bytes(value)


def _to_path(value: str | Path | None) -> Path | None:
    from pathlib import Path  # on first use: pathlib is not cheap to import

    return None if value is None else Path(value)


@attrs.frozen(kw_only=True)
class Attachment:
    """A file to send (``data`` or ``path``) or one that was received (``source``).

    Received attachments carry the network's handle in ``source`` (an ``mxc://``
    URI, a signal-cli attachment id); fetch the bytes with ``Client.download``.
    """

    data: bytes | None = attrs.field(default=None, converter=_to_bytes, repr=False)
    path: Path | None = attrs.field(default=None, converter=_to_path)
    filename: str | None = None
    mime_type: str | None = None
    size: int | None = None
    source: str | None = None
    #: Network-specific decryption material (Matrix encrypted files).
    secrets: object = attrs.field(default=None, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        if self.data is None and self.path is None and self.source is None:
            raise InvalidContentError("an attachment needs data, a path or a source")

    @property
    def name(self) -> str:
        if self.filename:
            return self.filename
        if self.path is not None:
            return self.path.name
        return "attachment"

    @property
    def content_type(self) -> str:
        if self.mime_type:
            return self.mime_type
        import mimetypes

        guessed, _ = mimetypes.guess_type(self.name)
        return guessed or "application/octet-stream"

    def read(self) -> bytes:
        """The bytes to send (reads ``path`` when no ``data`` was given)."""
        if self.data is not None:
            return self.data
        if self.path is not None:
            return self.path.read_bytes()
        raise InvalidContentError("a received attachment must be downloaded first")
