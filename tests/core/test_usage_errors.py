"""Usage mistakes are typed errors; content and its keywords never disagree."""

import re

import attrs
import pytest

import unimsg
from unimsg import (
    AdapterNotFoundError,
    Attachment,
    Bot,
    Client,
    Content,
    Context,
    InvalidArgumentError,
    InvalidContentError,
    Mention,
    MessageReceived,
    UsageError,
)
from unimsg.testing import EventWaiter, FakeNetwork

pytestmark = pytest.mark.anyio

A = "signal:+15550000001"
B = "signal:+15550000002"


@pytest.fixture
def net() -> FakeNetwork:
    return FakeNetwork()


def test_usage_errors_are_also_the_builtin_python_users_catch() -> None:
    assert issubclass(InvalidArgumentError, UsageError)
    assert issubclass(InvalidArgumentError, ValueError)
    with pytest.raises(InvalidArgumentError, match="at least one adapter"):
        Client()


async def test_an_unknown_adapter_name_is_adapter_not_found(net: FakeNetwork) -> None:
    async with Client(net.adapter("signal", A)) as client:
        with pytest.raises(AdapterNotFoundError, match=re.escape("'matrix' (it has: signal:")):
            client.adapter("matrix")
        with pytest.raises(AdapterNotFoundError):
            await client.download(Attachment(source="x"), "telegram")


def test_content_format_is_checked() -> None:
    with pytest.raises(InvalidContentError, match=r"'md'.*'plain' or 'markdown'"):
        Content(text="**hi**", format="md")  # type: ignore[arg-type]
    assert Content(text="**hi**", format="markdown").format == "markdown"


async def test_a_send_with_an_unknown_format_sends_nothing(net: FakeNetwork) -> None:
    async with Client(net.adapter("signal", A)) as client, Client(net.adapter("signal", B)) as b:
        with pytest.raises(InvalidContentError, match="'md'"):
            await client.send(B, "**hi**", format="md")  # type: ignore[arg-type]
        with pytest.raises(InvalidContentError, match="''"):
            await client.enqueue(B, "**hi**", format="")  # type: ignore[arg-type]
        await client.send(B, "after")
        assert (await EventWaiter(b).next(MessageReceived)).text == "after"


async def test_keywords_complete_a_content(net: FakeNetwork) -> None:
    a, b = net.adapter("signal", A), net.adapter("signal", B)
    async with Client(a) as ca, Client(b) as cb:
        first = await ca.send(B, "first")
        got_first = await EventWaiter(cb).next(MessageReceived)
        file = Attachment(data=b"123", filename="n.txt")
        await cb.send(
            A,
            Content(text="hey @alice", format="markdown"),
            mentions=[Mention(a.account, 4, 6)],
            attachments=[file],
            reply_to=got_first,
        )
        got = await EventWaiter(ca).next(MessageReceived)
        assert got.reply_to is not None and got.reply_to.id == first.id
        assert [m.user for m in got.mentions] == [a.account]
        assert [x.name for x in got.attachments] == ["n.txt"]


async def test_keywords_that_contradict_a_content_raise(net: FakeNetwork) -> None:
    a, b = net.adapter("signal", A), net.adapter("signal", B)
    async with Client(a) as ca, Client(b):
        one = await ca.send(B, "one")
        two = await ca.send(B, "two")
        replying = Content(text="re", reply_to=one.ref)
        with pytest.raises(InvalidArgumentError, match="reply_to"):
            await ca.send(B, replying, reply_to=two.ref)
        with pytest.raises(InvalidArgumentError, match="format='markdown'"):
            await ca.send(B, Content(text="x"), format="markdown")
        with_file = Content(text="x", attachments=[Attachment(data=b"1")])
        with pytest.raises(InvalidArgumentError, match="attachments"):
            await ca.send(B, with_file, attachments=[Attachment(data=b"2")])
        with pytest.raises(InvalidArgumentError, match="mentions"):
            await ca.enqueue(
                B,
                Content(text="hi bob", mentions=[Mention(b.account, 3, 3)]),
                mentions=[Mention(a.account, 0, 2)],
            )
        # Saying the same thing twice is no contradiction.
        await ca.send(B, replying, reply_to=one.ref, format="plain")


async def test_a_reply_keeps_its_link_whatever_the_content_form(net: FakeNetwork) -> None:
    a, b = net.adapter("signal", A), net.adapter("signal", B)
    async with Client(a) as ca, Client(b) as cb:
        sent = await ca.send(B, "question")
        question = await EventWaiter(cb).next(MessageReceived)
        other = await ca.send(B, "another")
        await EventWaiter(cb).next(MessageReceived)
        await cb.reply(question, "as text")
        await cb.reply(question, Content(text="as **content**", format="markdown"))
        await cb.reply(question, Content(text="linked already", reply_to=question.ref))
        for text in ("as text", "as content", "linked already"):
            got = await EventWaiter(ca).next(MessageReceived)
            assert got.text == text
            assert got.reply_to is not None and got.reply_to.id == sent.id
        await cb.reply(question, Content(text="unlinked"), quote=False)
        got = await EventWaiter(ca).next(MessageReceived)
        assert got.reply_to is None
        with pytest.raises(InvalidArgumentError, match="another message"):
            await cb.reply(question, Content(text="x", reply_to=other.ref))
        with pytest.raises(InvalidArgumentError, match="quote=False"):
            await cb.reply(question, Content(text="x", reply_to=question.ref), quote=False)
        with pytest.raises(InvalidArgumentError, match="format"):
            await cb.reply(question, Content(text="x"), format="markdown")


def test_context_args_are_immutable(net: FakeNetwork) -> None:
    client = Client(net.adapter("signal", A))
    ctx: Context[MessageReceived] = Context(
        event=_message(), client=client, command="deploy", args=["staging"]
    )
    assert ctx.args == ("staging",)
    assert not hasattr(ctx.args, "append")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        ctx.args = ()  # type: ignore[misc]
    assert isinstance(Bot(client), Bot)


def _message() -> MessageReceived:
    from datetime import UTC, datetime

    return MessageReceived(
        network="signal",
        account=unimsg.Address.parse(A),
        conversation=unimsg.Address.parse(B),
        sender=unimsg.Address.parse(B),
        id="1",
        timestamp=datetime(2026, 1, 1, tzinfo=UTC),
        text="!deploy staging",
    )
