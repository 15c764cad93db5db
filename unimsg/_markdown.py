"""Markdown rendering for each network's rich-text form.

Matrix carries HTML (``formatted_body``), rendered by markdown-it (CommonMark,
raw HTML disabled so user text cannot inject markup). Signal carries plain
text plus style ranges; ``to_styled`` renders, from markdown-it's inline
tokens, the subset Signal can show (bold, italic, strikethrough, monospace for
code spans and fenced blocks, spoiler ``||text||``), leaves everything else as
typed, and maps offsets from the source to the output, so mentions given
against the source stay on the right characters.
"""

from __future__ import annotations

import bisect
import html
import re
from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING

from ._types import Mention, StyleRange, TextStyle

if TYPE_CHECKING:
    from markdown_it import MarkdownIt

__all__ = ["plain_to_html", "to_html", "to_styled"]

_PARAGRAPH = re.compile(r"\A<p>(.*)</p>\n?\Z", re.S)
_STYLES = {"strong": TextStyle.BOLD, "em": TextStyle.ITALIC, "s": TextStyle.STRIKETHROUGH}
_SPOILER = "||"


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


@cache
def _inline_parser() -> MarkdownIt:
    """The inline rules Signal can show, over the exact source text.

    No block rules (lists, headings and quotes stay as typed), no links or
    entities (Signal shows text as is), no newline rule (it would eat the spaces
    around line breaks), and no normalising or joining, so that every token
    still matches the source character for character.
    """
    from markdown_it import MarkdownIt

    parser = MarkdownIt("zero").enable(["escape", "backticks", "emphasis", "strikethrough"])
    return parser.disable(["normalize", "text_join"])


class _Styler:
    """Walks the tokens and the source side by side, keeping each output character's origin."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.cursor = 0
        self.out: list[str] = []
        self.origin: list[int] = []
        self.ranges: list[tuple[int, int, TextStyle]] = []
        self.spoiler_marks: list[int] = []
        self._open: list[tuple[str, int]] = []

    def emit(self, text: str, at: int) -> None:
        self.out.extend(text)
        self.origin.extend(range(at, at + len(text)))

    def find(self, piece: str) -> int:
        at = self.source.find(piece, self.cursor)
        # Tokens come in source order and every one of them is in the source.
        assert at >= 0, (piece, self.cursor)
        return at

    def token(self, kind: str, content: str, markup: str) -> None:
        if kind == "text" and content:
            at = self.find(content)
            base = len(self.out)
            mark = content.find(_SPOILER)
            while mark >= 0:
                self.spoiler_marks.append(base + mark)
                mark = content.find(_SPOILER, mark + len(_SPOILER))
            self.emit(content, at)
            self.cursor = at + len(content)
        elif kind == "text_special":
            at = self.find(markup)
            self.emit(content, at + len(markup) - len(content))
            self.cursor = at + len(markup)
        elif kind == "hardbreak":
            at = self.find("\\\n")
            self.emit("\n", at + 1)
            self.cursor = at + 2
        elif kind == "code_inline":
            self.code(markup)
        elif kind.endswith(("_open", "_close")):
            name, _, side = kind.rpartition("_")
            at = self.find(markup)
            self.cursor = at + len(markup)
            if side == "open":
                self._open.append((name, len(self.out)))
            elif self._open:
                opened, start = self._open.pop()
                self.ranges.append((start, len(self.out), _STYLES[opened]))

    def code(self, fence: str) -> None:
        start = self.find(fence) + len(fence)
        end = _closing_run(self.source, start, len(fence))
        raw_start, raw_end = start, end
        raw = self.source[start:end]
        if len(fence) >= 3 and "\n" in raw:
            # A fenced block: the first line is the info string (a language).
            raw_start = start + raw.index("\n") + 1
            if self.source[raw_end - 1 : raw_end] == "\n" and raw_end > raw_start:
                raw_end -= 1
        elif len(raw) > 2 and raw[0] in " \n" and raw[-1] in " \n" and raw.strip():
            raw_start, raw_end = start + 1, end - 1
        begin = len(self.out)
        self.emit(self.source[raw_start:raw_end], raw_start)
        self.ranges.append((begin, len(self.out), TextStyle.MONOSPACE))
        self.cursor = end + len(fence)

    def spoilers(self) -> None:
        """Pair ``||`` marks of plain text (not code, not escaped) into spoiler ranges."""
        out = self.out
        pairs: list[tuple[int, int]] = []
        opened: int | None = None
        for mark in self.spoiler_marks:
            after = mark + len(_SPOILER)
            if opened is None:
                if after < len(out) and not out[after].isspace():
                    opened = mark
            elif mark > opened + len(_SPOILER) and not out[mark - 1].isspace():
                pairs.append((opened, mark))
                opened = None
        if not pairs:
            return
        drop = {i for a, b in pairs for i in (a, a + 1, b, b + 1)}
        new_index = [0] * (len(out) + 1)
        kept = 0
        for i in range(len(out)):
            new_index[i] = kept
            kept += i not in drop
        new_index[len(out)] = kept
        self.ranges = [(new_index[a], new_index[b], st) for a, b, st in self.ranges]
        self.ranges += [(new_index[a + 2], new_index[b], TextStyle.SPOILER) for a, b in pairs]
        self.out = [ch for i, ch in enumerate(out) if i not in drop]
        self.origin = [o for i, o in enumerate(self.origin) if i not in drop]

    def position(self, source_index: int) -> int:
        """The output index of the first character at or after ``source_index``."""
        return bisect.bisect_left(self.origin, source_index)


def _closing_run(source: str, start: int, length: int) -> int:
    """Where the backtick run of exactly ``length`` closing a code span begins."""
    i = start
    while True:
        i = source.index("`", i)
        j = i
        while j < len(source) and source[j] == "`":
            j += 1
        if j - i == length:
            return i
        i = j


def to_styled(
    source: str, mentions: Sequence[Mention] = ()
) -> tuple[str, tuple[StyleRange, ...], tuple[Mention, ...]]:
    """Render inline markdown to (plain text, style ranges, remapped mentions).

    Offsets are in code points, of the output; mentions given against the
    source move with the characters they cover.
    """
    styler = _Styler(source)
    for token in _inline_parser().parseInline(source)[0].children or ():
        styler.token(token.type, token.content, token.markup)
    styler.spoilers()
    styles = tuple(
        sorted(
            (StyleRange(a, b - a, style) for a, b, style in styler.ranges if b > a),
            key=lambda r: (r.start, r.length),
        )
    )
    moved = []
    for m in mentions:
        start, end = styler.position(m.start), styler.position(m.start + m.length)
        if end > start:
            moved.append(Mention(m.user, start, end - start))
    return "".join(styler.out), styles, tuple(moved)
