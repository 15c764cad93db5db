"""Inline markup of a message's text: styles and mentions, as both networks carry them."""

from __future__ import annotations

import enum

import attrs

from ._address import Address

__all__ = ["Mention", "StyleRange", "TextStyle"]


class TextStyle(enum.Enum):
    """Inline styles both networks can carry."""

    BOLD = "BOLD"
    ITALIC = "ITALIC"
    STRIKETHROUGH = "STRIKETHROUGH"
    MONOSPACE = "MONOSPACE"
    SPOILER = "SPOILER"


@attrs.frozen
class StyleRange:
    """A style over ``text[start:start + length]`` (offsets in code points)."""

    start: int
    length: int
    style: TextStyle


@attrs.frozen
class Mention:
    """``text[start:start + length]`` (code points) names ``user``."""

    user: Address
    start: int
    length: int
