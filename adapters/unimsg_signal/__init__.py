"""Signal adapter for unimsg, talking to a signal-cli daemon over JSON-RPC.

    adapter = SignalAdapter.create("+15551234567", "tcp://127.0.0.1:7583")
    async with unimsg.Client(adapter) as client:
        ...

Run the daemon with ``--receive-mode=manual``; docs/signal.md has the details.
"""

from ._adapter import SignalAdapter
from ._config import Endpoint, SignalConfig, TrustPolicy
from ._errors import CaptchaRequiredError

__all__ = [
    "CaptchaRequiredError",
    "Endpoint",
    "SignalAdapter",
    "SignalConfig",
    "TrustPolicy",
]
