import base64
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from unimsg import Address, AddressKind, InvalidAddressError

GROUP = base64.b64encode(bytes(range(32))).decode()


@pytest.mark.parametrize(
    ("text", "kind", "ident"),
    [
        ("signal:+15551234567", AddressKind.USER, "+15551234567"),
        (
            "signal:6BA7B810-9DAD-11D1-80B4-00C04FD430C8",
            AddressKind.USER,
            "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
        ),
        ("signal:u:alice.42", AddressKind.USERNAME, "alice.42"),
        (f"signal:group:{GROUP}", AddressKind.GROUP, GROUP),
        ("matrix:@alice:example.org", AddressKind.USER, "@alice:example.org"),
        ("matrix:!room:example.org", AddressKind.GROUP, "!room:example.org"),
        ("matrix:!opaqueV12roomid", AddressKind.GROUP, "!opaqueV12roomid"),
        ("matrix:#ops:example.org:8448", AddressKind.ALIAS, "#ops:example.org:8448"),
        ("matrix:u/alice:example.org", AddressKind.USER, "@alice:example.org"),
        ("matrix:roomid/room:example.org", AddressKind.GROUP, "!room:example.org"),
        ("matrix:r/ops:example.org", AddressKind.ALIAS, "#ops:example.org"),
        ("matrix:@bob:[::1]:8008", AddressKind.USER, "@bob:[::1]:8008"),
        ("irc:group:libera", AddressKind.GROUP, "libera"),
    ],
)
def test_parse(text: str, kind: AddressKind, ident: str) -> None:
    address = Address.parse(text)
    assert (address.kind, address.id) == (kind, ident)
    assert Address.parse(str(address)) == address


def test_canonical_forms_print_back_unchanged() -> None:
    for text in ["signal:+15551234567", "signal:u:alice.42", "matrix:#ops:example.org"]:
        assert str(Address.parse(text)) == text


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("+15551234567", "network:identifier"),
        ("signal:15551234567", "needs its '+'"),
        ("signal:+1555", "E.164"),
        ("signal:u:Al", "username"),
        ("signal:group:not base64!", "base64"),
        ("signal:group:" + base64.b64encode(b"short").decode(), "16 or 32 bytes"),
        ("signal:bob", "expected '+E164'"),
        ("matrix:alice", "expected '@user:server'"),
        ("matrix:@alice", "needs ':server'"),
        ("matrix:@:example.org", "nothing between"),
        ("matrix:@alice:exa mple.org", "not a valid server name"),
        ("matrix:u/alice:example.org/e/$event", "event links"),
        ("matrix:@" + "a" * 300 + ":example.org", "255 bytes"),
        ("Signal:+15551234567", "lower-case"),
        ("signal:", "nothing after"),
    ],
)
def test_invalid_addresses_say_why(text: str, says: str) -> None:
    with pytest.raises(InvalidAddressError, match=None) as info:
        Address.parse(text)
    assert isinstance(info.value, ValueError)
    assert says in str(info.value)
    assert repr(text) in str(info.value)


def test_parse_rejects_non_strings() -> None:
    with pytest.raises(InvalidAddressError, match="must be a str"):
        Address.parse(42)  # type: ignore[arg-type]


def test_kind_predicates() -> None:
    assert Address.parse("signal:+15551234567").is_person
    assert Address.parse("signal:u:alice.42").is_person
    assert Address.parse(f"signal:group:{GROUP}").is_group
    assert Address.parse("matrix:#a:b.c").is_group


numbers = st.from_regex(r"\+[1-9][0-9]{6,14}", fullmatch=True)
localparts = st.from_regex(r"[a-z0-9._=/+-]{1,20}", fullmatch=True)
servers = st.from_regex(r"[a-z][a-z0-9-]{0,10}(\.[a-z]{2,5}){1,2}(:[0-9]{2,5})?", fullmatch=True)
canonical = st.one_of(
    numbers.map(lambda n: f"signal:{n}"),
    st.uuids().map(lambda u: f"signal:{u}"),
    st.from_regex(r"[a-z_][a-z0-9_]{2,31}\.[0-9]{2,10}", fullmatch=True).map(
        lambda n: f"signal:u:{n}"
    ),
    st.binary(min_size=32, max_size=32).map(
        lambda b: f"signal:group:{base64.b64encode(b).decode()}"
    ),
    st.tuples(st.sampled_from("@!#"), localparts, servers).map(
        lambda t: f"matrix:{t[0]}{t[1]}:{t[2]}"
    ),
)


@given(canonical)
def test_round_trip(text: str) -> None:
    address = Address.parse(text)
    assert str(address) == text
    assert Address.parse(str(address)) == address


@given(st.text(max_size=80))
def test_garbage_gives_only_invalid_address_errors(text: str) -> None:
    try:
        address = Address.parse(text)
    except InvalidAddressError:
        return
    assert Address.parse(str(address)) == address


def test_uuid_addresses_are_normalised() -> None:
    u = uuid.uuid4()
    assert Address.parse(f"signal:{str(u).upper()}") == Address.parse(f"signal:{u}")


def test_a_string_parsed_again_gives_the_same_value_and_a_bad_one_fails_each_time() -> None:
    first = Address.parse("signal:+15550001234")
    assert Address.parse("signal:+15550001234") is first
    for _ in range(2):
        with pytest.raises(InvalidAddressError, match="country code"):
            Address.parse("signal:12")
