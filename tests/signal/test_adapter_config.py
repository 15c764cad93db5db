"""SignalConfig and from_config: endpoints, secrets from the environment, validation."""

from __future__ import annotations

from pathlib import Path

import pytest
from unimsg_signal import Endpoint, SignalAdapter, SignalConfig
from unimsg_signal._transports import stdio_command

from unimsg import ConfigError, UsageError
from unimsg._config import parse_config


def test_endpoints() -> None:
    assert str(Endpoint.parse("tcp://127.0.0.1:7583")) == "tcp://127.0.0.1:7583"
    assert Endpoint.parse("unix:///run/signal-cli/socket").path == "/run/signal-cli/socket"
    assert Endpoint.parse("http://localhost:8080/").url == "http://localhost:8080"
    stdio = Endpoint.parse("stdio:signal-cli --config /var/lib/signal")
    assert stdio_command(stdio, "+15550000001", False) == [
        "signal-cli",
        "--config",
        "/var/lib/signal",
        "-a",
        "+15550000001",
        "jsonRpc",
        "--receive-mode=manual",
    ]
    for bad in ("tcp://nohost", "ftp://x", "stdio:", "unix://"):
        with pytest.raises(UsageError):
            Endpoint.parse(bad)


def test_from_config_reads_secrets_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIGNAL_PROXY_TOKEN", "tok-secret")
    config = parse_config(
        {
            "adapters": [
                {
                    "type": "signal",
                    "account": "+15550000001",
                    "url": "unix://sock/signal.sock",
                    "http_token_env": "SIGNAL_PROXY_TOKEN",
                    "trust_policy": "always",
                }
            ]
        },
        base_dir=tmp_path,
    )
    adapter = config.adapters[0]
    assert isinstance(adapter, SignalAdapter)
    assert adapter.config.url.path == str(tmp_path / "sock/signal.sock")
    assert adapter.config.http_token == "tok-secret" and "tok-secret" not in repr(adapter.config)
    assert adapter.config.trust_policy == "always"


def test_validation() -> None:
    with pytest.raises(UsageError):
        SignalConfig(account="alice")
    with pytest.raises(UsageError):
        SignalConfig(account="+15550000001", trust_policy="sometimes")  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        SignalConfig.from_mapping({"account": "+15550000001", "colour": "red"})
    with pytest.raises(UsageError):
        SignalConfig.from_mapping({"account": "+15550000001", "http_token_env": "UNSET_VAR_X"})


@pytest.mark.parametrize("url", [7583, {"kind": "tcp", "port": 7583}, True])
def test_a_url_that_is_not_a_string_is_named(url: object) -> None:
    with pytest.raises(ConfigError) as caught:
        SignalConfig.from_mapping({"account": "+15550000001", "url": url})
    assert caught.value.problems == (
        ("url", f"expected a URL string, e.g. 'tcp://127.0.0.1:7583', got {url!r}"),
    )
