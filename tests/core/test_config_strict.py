"""The configuration file is checked strictly: every problem, one line each, with its path."""

from __future__ import annotations

from pathlib import Path

import pytest

import unimsg
from unimsg import ConfigError, UsageError, load_config

BASE = """
[[adapters]]
type = "fake"
account = "signal:+15550000001"
peers = ["signal:+15550000002"]
"""

#: (what the file adds to BASE, the line the error must contain) — the issue's bad inputs.
BAD_INPUTS = [
    ("[clinet]\nrequire_encryption = true", "clinet: unknown section (did you mean 'client'?)"),
    (
        "[client]\nrequire_encrption = true",
        "client.require_encrption: unknown key (did you mean 'require_encryption'?)",
    ),
    (
        '[client]\nrequire_encryption = "no"',
        "client.require_encryption: expected a boolean (true or false), got 'no'",
    ),
    (
        '[[routes]]\nvia = "signal"\n[[routes]]\nvia = "signal"\nencryptd = true',
        "routes[1].encryptd: unknown key (did you mean 'encrypted'?)",
    ),
    (
        '[[routes]]\nvia = "signal"\nmatch = "people"',
        "routes[0].match: must be one of 'any', 'person', 'group', not 'people'",
    ),
    ('[[routes]]\nvia = "matrx"', "routes[0].via: no configured adapter 'matrx'"),
    (
        '[[routes]]\nvia = "signal"\nencrypted = "yes"',
        "routes[0].encrypted: expected a boolean (true or false), got 'yes'",
    ),
    (
        '[[adapters]]\ntype = "fake"\naccount = "signal:+15550000003"\n'
        'peers = "signal:+15550000004"',
        "adapters[1].peers: expected a list, got 'signal:+15550000004'",
    ),
    (
        '[[adapters]]\ntype = "fake"\naccount = "matrix:@a:fake.test"\nrooms = [{adress = "x"}]',
        "adapters[1].rooms[0].adress: unknown key (did you mean 'address'?)",
    ),
    (
        '[[adapters]]\ntype = "fake"\naccount = "matrix:@a:fake.test"\npeer = []',
        "adapters[1].peer: unknown key (did you mean 'peers'?)",
    ),
    (
        '[[adapters]]\ntype = "matirx"',
        "adapters[1].type: unknown adapter 'matirx' (did you mean 'matrix'?",
    ),
    (
        '[[adapters]]\ntype = "signal"\naccount = "+15550000009"\nrequest_timeout = "10s"',
        "adapters[1].request_timeout: expected a number, got '10s'",
    ),
    (
        '[[adapters]]\ntype = "signal"\naccount = "+15550000009"\ntrust_policy = "trusting"',
        "adapters[1].trust_policy: must be one of 'strict', 'tofu', 'always', not 'trusting'",
    ),
    (
        '[[adapters]]\ntype = "signal"\naccount = "+15550000009"\nurl = "tpc://127.0.0.1:7583"',
        "adapters[1].url: unknown signal-cli endpoint",
    ),
    (
        '[[adapters]]\ntype = "signal"\naccount = "+15550000009"\nhttp_password = "hunter2"',
        "adapters[1].http_password: secrets do not belong in the file: name the environment "
        'variable that holds it, e.g. http_password_env = "UNIMSG_HTTP_PASSWORD"',
    ),
    (
        '[[adapters]]\ntype = "matrix"\nhomeserver = "https://h.test"\nuser_id = "@b:h.test"\n'
        'store_path = "s"\npassword = "hunter2"',
        "adapters[1].password: secrets do not belong in the file",
    ),
    (
        '[[adapters]]\ntype = "matrix"\nhomeserver = "https://h.test"\nuser_id = "@b:h.test"\n'
        'store_path = "s"\naccess_token_env = "UNIMSG_NOT_SET_ANYWHERE"\ndevice_id = "D"',
        "adapters[1].access_token_env: the environment variable UNIMSG_NOT_SET_ANYWHERE is not set",
    ),
    (
        '[[adapters]]\ntype = "matrix"\nhomeserver = "https://h.test"\nuser_id = "@b:h.test"\n'
        'store_path = "s"\npassword_env = "HOME"\nsync_timeout_ms = "30s"',
        "adapters[1].sync_timeout_ms: expected an integer, got '30s'",
    ),
    (
        '[contacts.alice]\nidentities = ["signal:12"]',
        "contacts.alice.identities[0]: invalid address 'signal:12'",
    ),
    (
        "[contacts.alice]\nidentity = []",
        "contacts.alice.identity: unknown key (did you mean 'identities'?)",
    ),
]


def _write(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "unimsg.toml"
    path.write_text(BASE + "\n" + extra + "\n")
    return path


@pytest.mark.parametrize(("extra", "line"), BAD_INPUTS)
def test_each_bad_input_is_one_clear_line(tmp_path: Path, extra: str, line: str) -> None:
    path = _write(tmp_path, extra)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    lines = str(raised.value).splitlines()
    assert any(got.startswith(f"{path}: {line}") for got in lines), lines
    assert isinstance(raised.value, UsageError) and isinstance(raised.value, ValueError)
    assert "hunter2" not in str(raised.value)


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    path = _write(
        tmp_path, "\n".join(extra for extra, _ in BAD_INPUTS[:3]).replace("[client]\n", "", 1)
    )
    path.write_text(
        BASE
        + '[clinet]\n[client]\nrequire_encryption = "no"\n'
        + '[[routes]]\nvia = "signal"\nmatch = "people"\nencryptd = true\n'
    )
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert len(raised.value.problems) == 4, raised.value.lines()


def test_a_valid_file_loads(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        '[client]\nrequire_encryption = true\nstore = "state.sqlite"\n'
        '[[adapters]]\ntype = "fake"\naccount = "matrix:@bot:fake.test"\n'
        'rooms = [{address = "matrix:!ops:fake.test", name = "ops",'
        ' members = ["matrix:@bob:fake.test"]}]\n'
        '[[routes]]\nvia = "signal"\nmatch = "person"\n[[routes]]\nvia = "matrix"\n'
        '[contacts.ops]\nkind = "team"\nidentities = ["matrix:!ops:fake.test"]\n',
    )
    config = unimsg.load_config(path)
    assert config.require_encryption
    assert config.store == tmp_path / "state.sqlite"
    assert [r.via for r in config.routes] == ["signal", "matrix"]
    assert str(config.contacts["ops"].identities[0]) == "matrix:!ops:fake.test"


@pytest.mark.anyio
async def test_the_client_of_a_config_keeps_its_store(tmp_path: Path) -> None:
    path = _write(tmp_path, '[client]\nstore = "state.sqlite"')
    config = load_config(path)
    async with config.client() as client:
        await client.send("signal:+15550000002", "hello")
    assert (tmp_path / "state.sqlite").exists()


@pytest.mark.anyio
async def test_a_fake_config_with_rooms_runs_end_to_end(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        '[[adapters]]\ntype = "fake"\naccount = "matrix:@bot:fake.test"\n'
        'rooms = [{address = "matrix:!ops:fake.test", members = ["matrix:@bob:fake.test"]}]\n'
        '[contacts.ops]\nidentities = ["matrix:!ops:fake.test"]\n',
    )
    config = load_config(path)
    assert config.fake_network is not None
    bob = config.fake_network.adapter("matrix", "matrix:@bob:fake.test")
    async with config.client() as client, unimsg.Client(bob) as bob_client:
        from unimsg.testing import EventWaiter

        inbox = EventWaiter(bob_client, timeout=5)
        await client.send(config.target("ops"), "deploy done")
        got = await inbox.next(unimsg.MessageReceived)
        assert got.text == "deploy done" and str(got.conversation) == "matrix:!ops:fake.test"


def test_an_unknown_contact_name_is_named(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, '[contacts.alice]\nidentities = ["signal:+15550000002"]'))
    with pytest.raises(UsageError, match="no contact named 'alcie' \\(did you mean 'alice'\\?\\)"):
        config.target("alcie")


def test_an_inline_url_password_is_refused(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        '[[adapters]]\ntype = "signal"\naccount = "+15550000009"\n'
        'url = "https://bot:hunter2@signal.example.org"\n',
    )
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert raised.value.lines() == [
        f"{path}: adapters[1].url: a password inside the URL: give http_username and "
        'http_password_env = "VARIABLE" instead'
    ]


def test_typed_keywords_match_the_settings_and_typos_are_usage_errors() -> None:
    import attrs
    from unimsg_matrix import MatrixAdapter, MatrixConfig, MatrixSettings
    from unimsg_signal import SignalAdapter, SignalConfig, SignalOptions

    assert set(MatrixSettings.__annotations__) == set(attrs.fields_dict(MatrixConfig))
    assert set(SignalOptions.__annotations__) == set(attrs.fields_dict(SignalConfig)) - {
        "account",
        "url",
    }
    with pytest.raises(UsageError, match="has no setting 'request_timout' \\(did you mean"):
        SignalAdapter.create("+15550000001", request_timout=3)  # type: ignore[call-arg]
    with pytest.raises(UsageError, match="MatrixConfig needs homeserver"):
        MatrixAdapter(user_id="@a:h.test", password="p", store_path="s")


def test_the_client_of_a_config_carries_its_contacts(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, '[contacts.bob]\nidentities = ["signal:+15550000002"]'))
    client = config.client()
    assert client.contacts is config.contacts
    # Bots made on it name senders from the same book.
    assert unimsg.Bot(client).contacts.name_of("signal:+15550000002") == "bob"


def test_problems_in_several_list_items_keep_their_indexes(tmp_path: Path) -> None:
    path = _write(tmp_path, '[[routes]]\nvia = "signal"\nmatch = "x"\n[[routes]]\nvia = 3\n')
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert [p for p, _ in raised.value.problems] == ["routes[0].match", "routes[1].via"]
