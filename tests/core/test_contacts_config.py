import tomllib
from pathlib import Path

import pytest

import unimsg
from unimsg import Address, Client, Contact, ContactBook, MessageReceived, Route
from unimsg._config import ConfigError, parse_config
from unimsg.testing import FakeNetwork
from unimsg.testing._waiting import EventWaiter

pytestmark = pytest.mark.anyio

PEOPLE_TO_SIGNAL_TEAMS_TO_MATRIX = [
    Route(match="person", via="signal"),
    Route(match="group", via="matrix"),
    Route(via="matrix"),
]

CONFIG = """
[[adapters]]
type = "fake"
account = "signal:+15550000100"
peers = ["signal:+15550000001"]

[[adapters]]
type = "fake"
account = "matrix:@bot:fake.test"
peers = ["matrix:@alice:fake.test", "matrix:@bob:fake.test"]

[[routes]]
match = "person"
via = "signal"

[[routes]]
via = "matrix"

[contacts.alice]
kind = "person"
identities = ["signal:+15550000001", "matrix:@alice:fake.test"]

[contacts.bob]
identities = ["matrix:@bob:fake.test"]

[contacts.ops]
kind = "team"
identities = ["matrix:!ops:fake.test"]
"""


def test_the_book_finds_contacts_by_name_and_by_any_identity() -> None:
    alice = Contact.of("Alice", "signal:+15550000001", "matrix:@alice:fake.test")
    ops = Contact.of("ops", "matrix:!ops:fake.test", "signal:group:" + "A" * 43 + "=")
    book = ContactBook.of(alice, ops)
    assert book["Alice"] is alice and "ops" in book and len(book) == 2
    assert book.find("matrix:@alice:fake.test") is alice
    assert book.find(Address.parse("signal:+15550000001")) is alice
    assert book.find("signal:+15550000009") is None
    assert book.name_of("signal:+15550000001") == "Alice"
    assert book.name_of("matrix:@carol:fake.test") == "@carol:fake.test"
    assert book.kind(alice) == "person" and book.kind("ops") == "team"
    assert book.people() == [alice] and book.teams() == [ops]


def test_an_address_belongs_to_one_contact() -> None:
    with pytest.raises(ValueError, match="belongs to both"):
        ContactBook.of(
            Contact.of("a", "signal:+15550000001"), Contact.of("b", "signal:+15550000001")
        )
    with pytest.raises(ValueError, match="two contacts named"):
        ContactBook.of(Contact.of("a"), Contact.of("a"))


def test_config_loads_a_contact_book() -> None:
    config = parse_config(tomllib.loads(CONFIG))
    assert isinstance(config.contacts, ContactBook)
    assert config.contacts.find("matrix:@alice:fake.test") == config.target("alice")
    assert config.contacts.kind("ops") == "team"
    assert config.target("signal:+15550000009") == Address.parse("signal:+15550000009")


@pytest.mark.parametrize(
    ("kind", "identity", "message"),
    [
        ("team", "signal:+15550000001", "is a team, but signal:\\+15550000001 is not a room"),
        ("person", "matrix:!ops:fake.test", "is a person, but matrix:!ops:fake.test"),
        ("robot", "signal:+15550000001", "contacts.x.kind: must be one of"),
    ],
)
def test_config_checks_contact_kinds(kind: str, identity: str, message: str) -> None:
    data = tomllib.loads(CONFIG)
    data["contacts"] = {"x": {"kind": kind, "identities": [identity]}}
    with pytest.raises(ConfigError, match=message):
        parse_config(data)


async def test_people_to_signal_teams_to_matrix_from_a_config() -> None:
    config = parse_config(tomllib.loads(CONFIG))
    net: FakeNetwork = config.fake_network
    ops_room = net.create_room(
        "matrix", creator=Address.parse("matrix:@bot:fake.test"), members=["matrix:@bob:fake.test"]
    )
    team = Contact.of("ops", ops_room)
    async with config.client() as bot:
        to_alice = await bot.send(config.target("alice"), "paged")
        assert to_alice.conversation == Address.parse("signal:+15550000001")
        to_team = await bot.send(team, "summary")
        assert to_team.conversation == ops_room
        # Bob has no Signal identity: a Matrix direct room, created once and reused.
        first = await bot.send(config.target("bob"), "fyi")
        again = await bot.send(config.target("bob"), "fyi again")
        assert first.conversation.network == "matrix" and first.conversation.is_group
        assert again.conversation == first.conversation
        assert (await bot.encryption_state(first.conversation)).encrypted


async def test_encrypted_routes_fall_through_then_refuse() -> None:
    net = FakeNetwork()
    bot_m = net.adapter("matrix", "matrix:@bot:fake.test")
    bot_s = net.adapter("signal", "signal:+15550000100")
    net.adapter("signal", "signal:+15550000001")
    lobby = net.create_room("matrix", creator=bot_m.account, encrypted=False)
    secure = [Route(match="group", via="matrix", encrypted=True), Route(via="signal")]
    both = Contact.of("on call", lobby, "signal:+15550000001")
    async with Client(bot_m, bot_s, routes=secure) as bot:
        # The plaintext room fails the encrypted route; the Signal identity takes over.
        assert (await bot.send(both, "page")).conversation.network == "signal"
        with pytest.raises(unimsg.EncryptionRequiredError):
            await bot.send(Contact.of("lobby", lobby), "secret")


async def test_replies_go_back_over_the_network_they_came_from() -> None:
    net = FakeNetwork()
    bot_s = net.adapter("signal", "signal:+15550000100")
    bot_m = net.adapter("matrix", "matrix:@bot:fake.test")
    alice_m = net.adapter("matrix", "matrix:@alice:fake.test")
    book = ContactBook.of(Contact.of("Alice", "signal:+15550000001", alice_m.account))
    async with (
        Client(bot_s, bot_m, routes=PEOPLE_TO_SIGNAL_TEAMS_TO_MATRIX) as bot,
        Client(alice_m) as alice,
    ):
        # Alice writes from Matrix although people are routed to Signal.
        await alice.send(bot_m.account, "status?")
        event = await EventWaiter(bot, timeout=3).next(MessageReceived)
        contact = book.find(event.sender)
        assert contact is not None and contact.name == "Alice"
        answer = await bot.reply(event, "all green")
        assert answer.conversation == event.conversation
        assert answer.conversation.network == "matrix"
        got = await EventWaiter(alice, timeout=3).next(MessageReceived)
        assert got.text == "all green" and got.reply_to is not None


async def test_config_names_the_client_store(tmp_path: Path) -> None:
    data = tomllib.loads(CONFIG + '\n[client]\nstore = "state/unimsg.db"\n')
    config = parse_config(data, base_dir=tmp_path)
    assert config.store == tmp_path / "state" / "unimsg.db"
    async with config.client() as client:
        await client.store.put("k", "v")
    async with unimsg.SqliteStore(tmp_path / "state" / "unimsg.db") as store:
        assert await store.get("k") == "v"
    with pytest.raises(ConfigError, match=r"client\.store: expected a string"):
        parse_config(tomllib.loads(CONFIG + "\n[client]\nstore = 1\n"))
