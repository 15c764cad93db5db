"""Markdown rendering for each network's rich-text form.

Matrix carries HTML (``formatted_body``), rendered by markdown-it (CommonMark,
raw HTML disabled so user text cannot inject markup). Signal carries plain
text plus style ranges; ``to_styled`` renders the inline subset Signal can
show (bold, italic, strikethrough, monospace, spoiler) and maps offsets from
the source to the output, so mentions given against the source stay on the
right characters.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING

from ._types import Mention, StyleRange, TextStyle

if TYPE_CHECKING:
    from markdown_it import MarkdownIt

__all__ = ["plain_to_html", "to_html", "to_styled"]

_DELIMS = (
    ("**", TextStyle.BOLD),
    ("__", TextStyle.BOLD),
    ("~~", TextStyle.STRIKETHROUGH),
    ("||", TextStyle.SPOILER),
    ("*", TextStyle.ITALIC),
    ("_", TextStyle.ITALIC),
    ("`", TextStyle.MONOSPACE),
)
_ESCAPABLE = set("\\`*_~|[]()#+-.!>")
_PARAGRAPH = re.compile(r"\A<p>(.*)</p>\n?\Z", re.S)


@cache
def _parser() -> MarkdownIt:
    # Imported here so that ``import unimsg`` stays fast.
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("strikethrough")


def to_html(source: str) -> str:
    """CommonMark to HTML; a single paragraph loses its ``<p>`` like Matrix clients do."""
    rendered: str = _parser().render(source)
    single = _PARAGRAPH.match(rendered)
    if single and "<p>" not in single.group(1):
        return single.group(1)
    return rendered.rstrip("\n")


def plain_to_html(text: str, mentions: Sequence[Mention]) -> str:
    """Escaped plain text with mention pills (``matrix.to`` links), for Matrix."""
    out: list[str] = []
    pos = 0
    for mention in sorted(mentions, key=lambda m: m.start):
        end = mention.start + mention.length
        out.append(html.escape(text[pos : mention.start]))
        link = html.escape(f"https://matrix.to/#/{mention.user.id}", quote=True)
        out.append(f'<a href="{link}">{html.escape(text[mention.start : end])}</a>')
        pos = end
    out.append(html.escape(text[pos:]))
    return "".join(out).replace("\n", "<br>")


def _tokens(source: str) -> list[tuple[int, str]]:
    """Positions of delimiter runs and escapes, in source order."""
    found: list[tuple[int, str]] = []
    i = 0
    while i < len(source):
        ch = source[i]
        if ch == "\\" and i + 1 < len(source) and source[i + 1] in _ESCAPABLE:
            found.append((i, "\\"))
            i += 2
            continue
        for delim, _ in _DELIMS:
            if source.startswith(delim, i):
                found.append((i, delim))
                i += len(delim)
                break
        else:
            i += 1
    return found


def _pairs(source: str, tokens: list[tuple[int, str]]) -> list[tuple[int, int, str]]:
    """Match opening and closing delimiters; unmatched ones stay literal text."""
    pairs: list[tuple[int, int, str]] = []
    stack: list[tuple[int, str]] = []
    code_open: int | None = None
    for pos, delim in tokens:
        if code_open is not None:
            if delim == "`":
                pairs.append((code_open, pos, "`"))
                code_open = None
            continue
        if delim == "\\":
            continue
        if delim == "`":
            code_open = pos
            continue
        for depth in range(len(stack) - 1, -1, -1):
            open_pos, open_delim = stack[depth]
            closes = open_delim == delim and pos > open_pos + len(delim)
            if closes and not source[pos - 1].isspace():
                pairs.append((open_pos, pos, delim))
                del stack[depth:]
                break
        else:
            nxt = pos + len(delim)
            if nxt < len(source) and not source[nxt].isspace():
                stack.append((pos, delim))
    return pairs


def to_styled(
    source: str, mentions: Sequence[Mention] = ()
) -> tuple[str, tuple[StyleRange, ...], tuple[Mention, ...]]:
    """Render inline markdown to (plain text, style ranges, remapped mentions)."""
    tokens = _tokens(source)
    pairs = _pairs(source, tokens)
    style_of = dict(_DELIMS)
    dropped: set[int] = set()
    for open_pos, close_pos, delim in pairs:
        dropped.update(range(open_pos, open_pos + len(delim)))
        dropped.update(range(close_pos, close_pos + len(delim)))
    in_code = [(o, c) for o, c, d in pairs if d == "`"]
    for pos, delim in tokens:
        if delim == "\\" and not any(o < pos < c for o, c in in_code):
            dropped.add(pos)
    out: list[str] = []
    new_offset = [0] * (len(source) + 1)
    for i, ch in enumerate(source):
        new_offset[i] = len(out)
        if i not in dropped:
            out.append(ch)
    new_offset[len(source)] = len(out)
    styles = tuple(
        sorted(
            (
                StyleRange(
                    new_offset[o + len(d)], new_offset[c] - new_offset[o + len(d)], style_of[d]
                )
                for o, c, d in pairs
                if new_offset[c] > new_offset[o + len(d)]
            ),
            key=lambda r: (r.start, r.length),
        )
    )
    moved = tuple(
        Mention(
            m.user,
            new_offset[m.start],
            new_offset[m.start + m.length] - new_offset[m.start],
        )
        for m in mentions
        if new_offset[m.start + m.length] > new_offset[m.start]
    )
    return "".join(out), styles, moved
