"""The ASGI example, driven by Starlette's own test client on the fake network."""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType

import anyio
import pytest
from starlette.testclient import TestClient

import unimsg
from unimsg.testing import EventWaiter, FakeNetwork

EXAMPLE = Path(__file__).parents[2] / "examples" / "asgi_app.py"


def _example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("asgi_app_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_lifespan_send_and_one_consumer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UNIMSG_CONFIG", raising=False)
    example = _example()
    net = FakeNetwork()
    app = example.create_app(example.fake_config(net))
    alice = net.adapter("signal", "signal:+15550000001")
    with TestClient(app) as http:
        # The lifespan opened the client before the first request.
        sent = http.post("/send", json={"to": "alice", "text": "deploy done"})
        assert sent.status_code == 200, sent.text
        assert sent.json()["conversation"] == "signal:+15550000001"
        to_room = http.post("/send", json={"to": "ops", "text": "deploy done"})
        assert to_room.json()["conversation"].startswith("matrix:!")

        bad = http.post("/send", json={"to": "alcie", "text": "x"})
        assert bad.status_code == 400
        assert "no contact named 'alcie' (did you mean 'alice'?)" in bad.json()["error"]

        async def alice_answers() -> None:
            async with unimsg.Client(alice) as phone:
                got = await EventWaiter(phone, timeout=5).next(unimsg.MessageReceived)
                assert got.text == "deploy done"
                await phone.reply(got, "thanks!")

        # Alice's phone runs in the application's event loop, as a peer would.
        assert http.portal is not None
        http.portal.call(alice_answers)
        # The background consumer hands the reply to the app; wait for it, boundedly.
        deadline = time.monotonic() + 10
        while not (messages := http.get("/messages").json()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert messages == [
            {
                "from": "signal:+15550000001",
                "conversation": "signal:+15550000001",
                "text": "thanks!",
            }
        ]
    # The lifespan closed the client after the last request.
    client = app.state.client

    async def send_after_shutdown() -> None:
        with pytest.raises(unimsg.ClosedError):
            await client.send("signal:+15550000001", "too late")

    anyio.run(send_after_shutdown)
