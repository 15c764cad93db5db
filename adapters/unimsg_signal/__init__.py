"""Signal adapter for unimsg, talking to a signal-cli daemon over JSON-RPC.

    adapter = SignalAdapter.create("+15551234567", "tcp://127.0.0.1:7583")
    async with unimsg.Client(adapter) as client:
        ...

Run the daemon with ``--receive-mode=manual``; docs/signal.md has the details.
"""

from ._adapter import SignalAdapter
from ._config import Endpoint, SignalConfig, SignalOptions, TrustPolicy
from ._errors import CaptchaRequiredError, RateLimitedOutcomeUnknownError

__all__ = [
    "CaptchaRequiredError",
    "Endpoint",
    "RateLimitedOutcomeUnknownError",
    "SignalAdapter",
    "SignalConfig",
    "SignalOptions",
    "TrustPolicy",
]
