"""Start-up against the real daemon: accounts it does not serve, the stdio child's reasons."""

from __future__ import annotations

import shlex
import sys

import pytest
from unimsg_signal import SignalAdapter

from unimsg import Client, NotFoundError

from .daemon import SCRIPT, RealDaemon, Transport

pytestmark = pytest.mark.anyio
NOBODY = "+15550009999"
FAST = {"min_backoff": 0.02, "max_backoff": 0.2, "request_timeout": 20.0, "connect_timeout": 20.0}


def multi_account_stdio(daemon: RealDaemon) -> str:
    """``signal-cli --config DIR jsonRpc``: a multi-account child, as a ``stdio:`` url."""
    command = [sys.executable, str(SCRIPT), "run", "--config", str(daemon.config), "--"]
    return "stdio:" + shlex.join([*command, "jsonRpc", "--receive-mode", "manual"])


async def start_error(url: str, **options: object) -> NotFoundError:
    adapter = SignalAdapter.create(NOBODY, url, give_up_after=2.0, **{**FAST, **options})
    with pytest.raises(NotFoundError) as caught:
        async with Client(adapter):
            pass
    return caught.value


@pytest.mark.parametrize("transport", ["tcp", "unix", "http"])
async def test_single_account_adapter_refuses_a_daemon_not_serving_it(
    empty_daemon: RealDaemon, transport: Transport
) -> None:
    # Without multi_account the daemon used to accept the subscription and act as
    # whichever account it had: the adapter must refuse at start instead.
    error = await start_error(empty_daemon.url(transport))
    assert f"does not serve {NOBODY} (it serves no account)" in str(error)


async def test_unknown_account_is_the_same_error_on_every_transport(
    empty_daemon: RealDaemon,
) -> None:
    urls = [empty_daemon.url(t) for t in ("tcp", "unix", "http")]
    urls.append(multi_account_stdio(empty_daemon))
    messages = {str(await start_error(url, multi_account=True)) for url in urls}
    assert len(messages) == 1, messages
    assert f"does not serve {NOBODY}" in messages.pop()
