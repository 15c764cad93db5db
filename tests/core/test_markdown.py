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


B, IT, S, M, SP = (
    TextStyle.BOLD,
    TextStyle.ITALIC,
    TextStyle.STRIKETHROUGH,
    TextStyle.MONOSPACE,
    TextStyle.SPOILER,
)


def test_underscores_inside_words_and_urls_stay() -> None:
    assert to_styled("call snake_case_name now") == ("call snake_case_name now", (), ())
    assert to_styled("see https://x.org/a_b_c")[0] == "see https://x.org/a_b_c"
    assert to_styled("_whole_ word")[1] == (StyleRange(0, 5, IT),)


def test_nested_and_adjacent_styles() -> None:
    text, styles, _ = to_styled("**bold *both* bold**")
    assert text == "bold both bold"
    assert styles == (StyleRange(0, 14, B), StyleRange(5, 4, IT))
    text, styles, _ = to_styled("**a***b*~~c~~`d`")
    assert text == "abcd"
    assert styles == (
        StyleRange(0, 1, B),
        StyleRange(1, 1, IT),
        StyleRange(2, 1, S),
        StyleRange(3, 1, M),
    )
    text, styles, _ = to_styled("***x***")
    assert text == "x" and set(styles) == {StyleRange(0, 1, B), StyleRange(0, 1, IT)}


def test_spoilers_wrap_and_nest_with_other_styles() -> None:
    text, styles, _ = to_styled("||**secret**|| and ||b|| `||code||` \\||no||")
    assert text == "secret and b ||code|| ||no||"
    assert styles == (
        StyleRange(0, 6, B),
        StyleRange(0, 6, SP),
        StyleRange(11, 1, SP),
        StyleRange(13, 8, M),
    )
    assert to_styled("a || b || c")[0] == "a || b || c"


def test_code_keeps_markup_and_blocks_drop_their_fences() -> None:
    assert to_styled("`a_b_ **c**`") == ("a_b_ **c**", (StyleRange(0, 10, M),), ())
    assert to_styled("`` a`b ``")[0] == "a`b"
    text, styles, _ = to_styled("run:\n```python\nx = *1*\nprint(x)\n```\ndone")
    assert text == "run:\nx = *1*\nprint(x)\ndone"
    assert styles == (StyleRange(5, 16, M),)


def test_block_markup_stays_as_typed() -> None:
    source = "# title\n- one\n  - two\n> quoted\n1. first\n\n\n    indented\r\nend  \nx"
    assert to_styled(source)[0] == source


def test_emoji_before_styles_count_in_utf16_for_signal() -> None:
    from unimsg_signal._text import style_specs

    text, styles, _ = to_styled("😀👍 **hi** ~~x~~")
    assert text == "😀👍 hi x"
    assert styles == (StyleRange(3, 2, B), StyleRange(6, 1, S))
    assert style_specs(text, styles) == ["5:2:BOLD", "8:1:STRIKETHROUGH"]


def test_mentions_move_with_removed_markup() -> None:
    source = r"\*\* ||**hey**|| @alice!"
    at = source.index("@")
    text, _, mentions = to_styled(source, [Mention(ALICE, at, 6)])
    assert text == "** hey @alice!"
    assert [text[m.start : m.start + m.length] for m in mentions] == ["@alice"]


@given(st.text(alphabet=st.characters(blacklist_characters="\\`*_~|"), max_size=120))
def test_text_without_markup_is_unchanged(source: str) -> None:
    assert to_styled(source) == (source, (), ())


@given(st.text(alphabet=st.sampled_from(list("ab _*~|`\\\n😀")), max_size=60))
def test_output_keeps_every_character_it_shows_in_order(source: str) -> None:
    text, _, _ = to_styled(source)
    rest = iter(source)
    assert all(ch in rest for ch in text)
