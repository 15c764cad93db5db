"""Inline styles of a message's text, as both networks carry them."""

from __future__ import annotations

import enum

import attrs

__all__ = ["StyleRange", "TextStyle"]


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
