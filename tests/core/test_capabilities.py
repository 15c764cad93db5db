"""Capabilities come from adapter classes; the fake offers what each real adapter offers."""

from pathlib import Path

import pytest

import unimsg
from unimsg import Capabilities, capabilities_of
from unimsg.testing import FakeNetwork


def real_adapters(tmp_path: Path) -> dict[str, unimsg.Adapter]:
    signal = pytest.importorskip("unimsg_signal")
    matrix = pytest.importorskip("unimsg_matrix")
    return {
        "signal": signal.SignalAdapter.create("+15550000001", "tcp://127.0.0.1:1"),
        "matrix": matrix.MatrixAdapter(
            homeserver="http://127.0.0.1:1",
            user_id="@a:example.org",
            access_token="t",
            device_id="D",
            store_path=tmp_path / "store",
        ),
    }


@pytest.mark.parametrize("network", ["signal", "matrix"])
def test_fake_adapters_offer_what_the_real_ones_offer(network: str, tmp_path: Path) -> None:
    real = real_adapters(tmp_path)[network]
    account = "matrix:@a:fake.test" if network == "matrix" else "signal:+15550000001"
    fake = FakeNetwork().adapter(network, account)
    assert capabilities_of(fake) == capabilities_of(real)


def test_real_adapters_are_adapters(tmp_path: Path) -> None:
    for adapter in real_adapters(tmp_path).values():
        assert isinstance(adapter, unimsg.Adapter)
        assert issubclass(type(adapter), unimsg.Configurable)


def test_a_minimal_adapter_supports_nothing_optional() -> None:
    class Minimal:
        network = "mini"
        account = unimsg.Address.parse("mini:me")
        idempotent_sends = False
        max_message_bytes = 100

        async def run(self, sink, *, task_status):  # type: ignore[no-untyped-def]
            task_status.started()

        async def ack(self, event):  # type: ignore[no-untyped-def]
            pass

        async def send(self, message):  # type: ignore[no-untyped-def]
            raise NotImplementedError

    adapter = Minimal()
    assert isinstance(adapter, unimsg.Adapter)
    assert capabilities_of(adapter) == Capabilities(max_message_bytes=100)
    assert capabilities_of(adapter).supported() == frozenset()


def test_narrowing_a_fake_removes_methods_and_features() -> None:
    net = FakeNetwork()
    full = net.adapter("matrix", "matrix:@a:fake.test")
    narrow = net.adapter("matrix", "matrix:@b:fake.test", without={"edits", "markdown"})
    assert capabilities_of(full).edits and capabilities_of(full).markdown
    caps = capabilities_of(narrow)
    assert not caps.edits and not caps.markdown and caps.reactions and caps.idempotent_sends
    assert not isinstance(narrow, unimsg.SupportsEdits)


def test_supports_answers_what_isinstance_answers(tmp_path: Path) -> None:
    from unimsg._capabilities import PROTOCOLS, supports

    net = FakeNetwork()
    adapters = [
        net.adapter("signal", "signal:+15550000001"),
        net.adapter("matrix", "matrix:@a:fake.test", without=("reactions", "encryption")),
        *real_adapters(tmp_path).values(),
    ]
    for adapter in adapters:
        for protocol, _ in PROTOCOLS.values():
            # Twice: the second answer comes from the per-class cache.
            assert supports(adapter, protocol) is isinstance(adapter, protocol)
            assert supports(adapter, protocol) is isinstance(adapter, protocol)
    narrowed = adapters[1]
    assert not supports(narrowed, unimsg.SupportsReactions)
    assert supports(adapters[0], unimsg.SupportsReactions)
