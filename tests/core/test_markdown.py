from hypothesis import given
from hypothesis import strategies as st

from unimsg import Address, Mention, StyleRange, TextStyle
from unimsg._markdown import plain_to_html, to_html, to_styled

ALICE = Address.parse("matrix:@alice:example.org")


def test_inline_styles() -> None:
    text, styles, _ = to_styled("a **b** *c* ~~d~~ `e` ||f||")
    assert text == "a b c d e f"
    assert styles == (
        StyleRange(2, 1, TextStyle.BOLD),
        StyleRange(4, 1, TextStyle.ITALIC),
        StyleRange(6, 1, TextStyle.STRIKETHROUGH),
        StyleRange(8, 1, TextStyle.MONOSPACE),
        StyleRange(10, 1, TextStyle.SPOILER),
    )


def test_unmatched_and_escaped_delimiters_stay_literal() -> None:
    assert to_styled("2 * 3 = 6")[0] == "2 * 3 = 6"
    assert to_styled(r"\*not italic\*")[0] == "*not italic*"
    assert to_styled("`a*b*c`") == ("a*b*c", (StyleRange(0, 5, TextStyle.MONOSPACE),), ())


def test_mentions_follow_the_rendered_text() -> None:
    source = "**hi** @alice"
    _, _, mentions = to_styled(source, [Mention(ALICE, 7, 6)])
    assert mentions == (Mention(ALICE, 3, 6),)


def test_html_is_escaped_and_single_paragraphs_unwrapped() -> None:
    assert to_html("**x** <script>") == "<strong>x</strong> &lt;script&gt;"
    assert to_html("a\n\nb") == "<p>a</p>\n<p>b</p>"


def test_plain_html_with_pills() -> None:
    html = plain_to_html("hi @alice <3", [Mention(ALICE, 3, 6)])
    assert html == 'hi <a href="https://matrix.to/#/@alice:example.org">@alice</a> &lt;3'


@given(st.text(alphabet=st.sampled_from(list("ab *_~|`\\\n😀")), max_size=60))
def test_styles_always_lie_inside_the_text(source: str) -> None:
    text, styles, _ = to_styled(source)
    assert len(text) <= len(source)
    for style in styles:
        assert style.start >= 0 and style.length > 0
        assert style.start + style.length <= len(text)


@given(st.text(max_size=200))
def test_rendering_never_raises(source: str) -> None:
    to_html(source)
    to_styled(source)
