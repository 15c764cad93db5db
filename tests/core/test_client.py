from datetime import timedelta

import anyio
import pytest

import unimsg
from unimsg import Client, Contact, Route
from unimsg.testing import FakeNetwork
from unimsg.testing._waiting import EventWaiter

pytestmark = pytest.mark.anyio

PEOPLE_SIGNAL_TEAMS_MATRIX = [
    Route(match="person", via="signal"),
    Route(match="group", via="matrix"),
    Route(via="matrix"),
]


@pytest.fixture
def net() -> FakeNetwork:
    return FakeNetwork()


async def test_issue_example(net: FakeNetwork) -> None:
    alice = net.adapter("signal", account="+15550000001")
    bob = net.adapter("signal", account="+15550000002")
    async with Client(alice) as a, Client(bob) as b:
        sent = await a.send("signal:+15550000002", "hello")
        assert isinstance(sent, unimsg.SentMessage)
        async for event in b.events():
            if isinstance(event, unimsg.MessageReceived):
                await b.reply(event, "hi back")
                break
        back = await EventWaiter(a).next(unimsg.MessageReceived)
        assert back.text == "hi back"
        assert back.reply_to is not None and back.reply_to.id == sent.id


async def test_contacts_route_people_to_signal_and_teams_to_matrix(net: FakeNetwork) -> None:
    bot_s = net.adapter("signal", "signal:+15550000100")
    bot_m = net.adapter("matrix", "matrix:@bot:fake.test")
    room = net.create_room("matrix", creator=bot_m.account, members=["matrix:@carol:fake.test"])
    alice = Contact.of("alice", "matrix:@alice:fake.test", "signal:+15550000001")
    carol = Contact.of("carol", "matrix:@carol:fake.test")
    net.adapter("signal", "signal:+15550000001")
    net.adapter("matrix", "matrix:@alice:fake.test")
    team = Contact.of("team", room)
    async with Client(bot_s, bot_m, routes=PEOPLE_SIGNAL_TEAMS_MATRIX) as bot:
        assert (await bot.send(alice, "x")).conversation.network == "signal"
        assert (await bot.send(team, "x")).conversation == room
        dm = await bot.send(carol, "x")
        assert dm.conversation.network == "matrix" and dm.conversation.is_group
        # The direct room is created once and reused.
        assert (await bot.send(carol, "y")).conversation == dm.conversation


async def test_the_opposite_policy_is_a_config_change(net: FakeNetwork) -> None:
    bot_s = net.adapter("signal", "signal:+15550000100")
    bot_m = net.adapter("matrix", "matrix:@bot:fake.test")
    net.adapter("matrix", "matrix:@alice:fake.test")
    net.adapter("signal", "signal:+15550000001")
    alice = Contact.of("alice", "signal:+15550000001", "matrix:@alice:fake.test")
    routes = [Route(match="person", via="matrix"), Route(via="signal")]
    async with Client(bot_s, bot_m, routes=routes) as bot:
        assert (await bot.send(alice, "x")).conversation.network == "matrix"


async def test_no_route_names_target_and_rules(net: FakeNetwork) -> None:
    bot = net.adapter("signal", "signal:+15550000100")
    async with Client(bot, routes=[Route(match="group", via="signal")]) as client:
        with pytest.raises(unimsg.NoRouteError) as info:
            await client.send("signal:+15550000001", "x")
        assert "signal:+15550000001" in str(info.value)
        assert "group -> signal" in str(info.value)
        with pytest.raises(unimsg.NoRouteError):
            await client.send("matrix:@a:fake.test", "x")


async def test_encrypted_route_falls_through_to_the_next(net: FakeNetwork) -> None:
    bot_m = net.adapter("matrix", "matrix:@bot:fake.test")
    bot_s = net.adapter("signal", "signal:+15550000100")
    net.adapter("signal", "signal:+15550000001")
    plain = net.create_room("matrix", creator=bot_m.account, encrypted=False)
    team = Contact.of("team", plain, "signal:+15550000001")
    routes = [Route(via="matrix", encrypted=True), Route(via="signal", encrypted=True)]
    async with Client(bot_m, bot_s, routes=routes) as bot:
        sent = await bot.send(team, "secret")
        assert sent.conversation.network == "signal"
        only_plain = Contact.of("lobby", plain)
        with pytest.raises(unimsg.EncryptionRequiredError):
            await bot.send(only_plain, "secret")


async def test_client_wide_encryption_requirement(net: FakeNetwork) -> None:
    bot = net.adapter("matrix", "matrix:@bot:fake.test")
    plain = net.create_room("matrix", creator=bot.account, encrypted=False)
    async with Client(bot, require_encryption=True) as client:
        with pytest.raises(unimsg.EncryptionRequiredError):
            await client.send(plain, "x")
        await client.send(plain, "fine", require_encryption=False)


async def test_rate_limits_are_waited_out_without_duplicates(net: FakeNetwork) -> None:
    a = net.adapter("matrix", "matrix:@a:fake.test")
    b = net.adapter("matrix", "matrix:@b:fake.test")
    net.faults.rate_limit(a.account, sends=3, retry_after=0.01)
    async with Client(a) as ca, Client(b) as cb:
        await ca.send(b.account, "one")
        inbox = EventWaiter(cb, timeout=2)
        await inbox.next(unimsg.MessageReceived, lambda e: e.text == "one")
        await inbox.none(unimsg.MessageReceived, within=0.1)


async def test_rate_limit_beyond_budget_raises(net: FakeNetwork) -> None:
    a = net.adapter("signal", "signal:+15550000001")
    net.adapter("signal", "signal:+15550000002")
    net.faults.rate_limit(a.account, sends=1, retry_after=60)
    async with Client(a, rate_limit_budget=1) as client:
        with pytest.raises(unimsg.RateLimitedError) as info:
            await client.send("signal:+15550000002", "x")
        assert info.value.retry_after == 60


async def test_closed_and_unopened_clients_refuse(net: FakeNetwork) -> None:
    client = Client(net.adapter("signal", "signal:+15550000001"))
    with pytest.raises(unimsg.ClosedError, match="not open yet"):
        await client.send("signal:+15550000002", "x")
    async with client:
        pass
    with pytest.raises(unimsg.ClosedError, match="closed"):
        await client.send("signal:+15550000002", "x")
    with pytest.raises(unimsg.ClosedError):
        async with client:
            pass


async def test_errors_in_the_body_are_not_wrapped(net: FakeNetwork) -> None:
    client = Client(net.adapter("signal", "signal:+15550000001"))
    with pytest.raises(unimsg.UnregisteredRecipientError):
        async with client:
            await client.send("signal:+15550000009", "nobody")


async def test_unsupported_features_name_network_and_feature(net: FakeNetwork) -> None:
    a = net.adapter("matrix", "matrix:@a:fake.test")
    async with Client(a) as client:
        room = await client.create_conversation("matrix", name="r")
        with pytest.raises(unimsg.NotSupportedError, match="matrix does not support disappearing"):
            await client.set_disappearing(room.address, timedelta(days=1))
        assert not client.capabilities("matrix").disappearing_messages


async def test_narrowed_capabilities_are_enforced(net: FakeNetwork) -> None:
    a = net.adapter(
        "signal", "signal:+15550000001", without={"reactions", "edits", "replies", "markdown"}
    )
    b = net.adapter("signal", "signal:+15550000002")
    assert not isinstance(a, unimsg.SupportsReactions)
    async with Client(a) as client, Client(b) as other:
        caps = client.capabilities("signal")
        assert not (caps.reactions or caps.edits or caps.replies) and caps.deletes
        sent = await client.send("signal:+15550000002", "x")
        with pytest.raises(unimsg.NotSupportedError, match="reactions"):
            await client.react(sent.ref, "👍")
        with pytest.raises(unimsg.NotSupportedError, match="edits"):
            await client.edit(sent, "y")
        with pytest.raises(unimsg.NotSupportedError, match="replies"):
            await client.send("signal:+15550000002", "z", reply_to=sent.ref)
        # Markdown goes out as written to an adapter that cannot render it.
        await client.send("signal:+15550000002", "**bold**", format="markdown")
        got = await EventWaiter(other).next(unimsg.MessageReceived, lambda e: "bold" in e.text)
        assert got.text == "**bold**" and not got.styles
        with pytest.raises(unimsg.UsageError, match="no capability named flying"):
            net.adapter("signal", "signal:+15550000001", without={"flying"})


async def test_several_accounts_of_one_network(net: FakeNetwork) -> None:
    work = net.adapter("signal", "signal:+15550000001")
    home = net.adapter("signal", "signal:+15550000002")
    friend = net.adapter("signal", "signal:+15550000003")
    routes = [Route(via="signal:+15550000002")]
    async with Client(work, home, routes=routes) as client, Client(friend) as other:
        sent = await client.send(friend.account, "from home")
        assert sent.sender == home.account
        got = await EventWaiter(other).next(unimsg.MessageReceived)
        assert got.sender == home.account
    with pytest.raises(ValueError, match="same account"):
        Client(work, net.adapter("signal", "signal:+15550000001"))


async def test_markdown_and_mentions_per_network(net: FakeNetwork) -> None:
    a = net.adapter("signal", "signal:+15550000001")
    b = net.adapter("signal", "signal:+15550000002")
    async with Client(a) as ca, Client(b) as cb:
        mention = unimsg.Mention(b.account, 8, 4)
        await ca.send(b.account, "**hey** @bob", format="markdown", mentions=[mention])
        got = await EventWaiter(cb).next(unimsg.MessageReceived)
        assert got.text == "hey @bob"
        assert got.styles == (unimsg.StyleRange(0, 3, unimsg.TextStyle.BOLD),)
        assert got.mentions == (unimsg.Mention(b.account, 4, 4),)


async def test_attachments_round_trip(net: FakeNetwork, tmp_path) -> None:  # type: ignore[no-untyped-def]
    a = net.adapter("matrix", "matrix:@a:fake.test")
    b = net.adapter("matrix", "matrix:@b:fake.test")
    path = tmp_path / "report.txt"
    path.write_bytes(b"all good")
    async with Client(a) as ca, Client(b) as cb:
        await ca.send(b.account, "see file", attachments=[unimsg.Attachment(path=path)])
        got = await EventWaiter(cb).next(unimsg.MessageReceived)
        (attachment,) = got.attachments
        assert (attachment.filename, attachment.mime_type, attachment.size) == (
            "report.txt",
            "text/plain",
            8,
        )
        assert await cb.download(attachment, "matrix") == b"all good"


async def test_events_stream_ends_when_client_closes(net: FakeNetwork) -> None:
    client = Client(net.adapter("signal", "signal:+15550000001"))
    seen = []
    async with client:

        async def consume() -> None:
            async for event in client.events():
                seen.append(event)

        async with anyio.create_task_group() as tg:
            tg.start_soon(consume)
            await anyio.sleep(0.01)
            tg.cancel_scope.cancel()
    assert seen == []


async def test_find_users_and_conversations(net: FakeNetwork) -> None:
    a = net.adapter("matrix", "matrix:@a:fake.test")
    net.adapter("matrix", "matrix:@alice:fake.test", display_name="Alice Liddell")
    async with Client(a) as client:
        found = await client.find_users("matrix", "liddell")
        assert [u.address.id for u in found] == ["@alice:fake.test"]
        room = await client.create_conversation(
            "matrix", name="ops", members=["matrix:@alice:fake.test"]
        )
        assert room.encrypted
        assert [c.name for c in await client.conversations()] == ["ops"]
        state = await client.encryption_state(room.address)
        assert state.scheme == "m.megolm.v1.aes-sha2"
        assert state.unverified == (unimsg.Address.parse("matrix:@alice:fake.test"),)


class _Broken:
    """An adapter whose connection fails at start."""

    def __init__(self, inner: object) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def run(self, sink, *, task_status) -> None:  # type: ignore[no-untyped-def]
        raise unimsg.ConnectError("daemon unreachable at tcp://127.0.0.1:1")


async def test_start_failures_are_not_wrapped(net: FakeNetwork) -> None:
    client = Client(_Broken(net.adapter("signal", "signal:+15550000001")))  # type: ignore[arg-type]
    with pytest.raises(unimsg.ConnectError, match="unreachable"):
        async with client:
            pass
    with pytest.raises(unimsg.ClosedError):
        await client.send("signal:+15550000002", "x")
