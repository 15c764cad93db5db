"""Text offsets: Signal counts UTF-16 code units, unimsg counts code points.

Mentions and style ranges cross this boundary in both directions; a character
outside the Basic Multilingual Plane (most emoji) is one code point but two
UTF-16 units, so every offset after it shifts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from unimsg import (
    Address,
    AddressKind,
    Content,
    InvalidContentError,
    Mention,
    StyleRange,
    TextStyle,
)
from unimsg.markdown import to_styled

__all__ = [
    "code_point_offset",
    "mention_specs",
    "render",
    "style_specs",
    "utf16_length",
    "utf16_offset",
]


def utf16_length(text: str) -> int:
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def utf16_offset(text: str, index: int) -> int:
    """UTF-16 units before code point ``index``."""
    return utf16_length(text[:index])


def code_point_offset(text: str, units: int) -> int:
    """Code points before UTF-16 unit ``units``; an offset inside a surrogate pair
    rounds up to the next whole character."""
    if units <= 0:
        return 0
    seen = 0
    for index, ch in enumerate(text):
        if seen >= units:
            return index
        seen += 2 if ord(ch) > 0xFFFF else 1
    return len(text)


def _spec(text: str, start: int, length: int, tail: str) -> str:
    begin = utf16_offset(text, start)
    return f"{begin}:{utf16_offset(text, start + length) - begin}:{tail}"


def style_specs(text: str, styles: Iterable[StyleRange]) -> list[str]:
    """``start:length:STYLE`` in UTF-16 units, as ``send`` takes them."""
    return [_spec(text, s.start, s.length, s.style.value) for s in styles if s.length > 0]


def _mention_target(user: Address) -> str:
    if user.network != "signal" or user.kind not in (AddressKind.USER, AddressKind.USERNAME):
        raise InvalidContentError(f"a Signal mention must name a Signal user, not {user}")
    return f"u:{user.id}" if user.kind is AddressKind.USERNAME else user.id


def mention_specs(text: str, mentions: Iterable[Mention]) -> list[str]:
    """``start:length:RECIPIENT`` in UTF-16 units."""
    return [_spec(text, m.start, m.length, _mention_target(m.user)) for m in mentions]


def render(content: Content) -> tuple[str, tuple[StyleRange, ...], tuple[Mention, ...]]:
    """Plain text, styles and mentions (code points) of outgoing content."""
    if content.format == "markdown":
        return to_styled(content.text, content.mentions)
    return content.text, (), tuple(content.mentions)


def incoming_range(text: str, start: object, length: object) -> tuple[int, int] | None:
    """A received UTF-16 ``(start, length)`` as code points, or ``None`` if it is bogus."""
    if not isinstance(start, int) or not isinstance(length, int):
        return None
    if isinstance(start, bool) or isinstance(length, bool) or start < 0 or length <= 0:
        return None
    if start + length > utf16_length(text):
        return None
    begin = code_point_offset(text, start)
    end = code_point_offset(text, start + length)
    return (begin, end - begin) if end > begin else None


def style_of(name: object) -> TextStyle | None:
    try:
        return TextStyle(name) if isinstance(name, str) else None
    except ValueError:
        return None


def sorted_styles(styles: Sequence[StyleRange]) -> tuple[StyleRange, ...]:
    return tuple(sorted(styles, key=lambda s: (s.start, s.length, s.style.value)))
