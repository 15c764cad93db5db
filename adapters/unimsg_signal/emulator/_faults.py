"""Fault injection for the emulated network, driven from Python.

Every fault is armed for a number of uses and disarms itself, so a test says
exactly what goes wrong and nothing else is affected::

    network.faults.fail_recipient("+15550000002", Failure.PROOF_REQUIRED, token="t")
    network.faults.fail_method("send", -32603, "Failed to send message: … (IOException)")
    network.faults.garbage_next_response(b"\\x00{not json\\n")
    network.faults.stall_notifications(2.0)
    network.faults.drop_connections()
"""

from __future__ import annotations

import time
from collections import deque
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import anyio
import attrs

if TYPE_CHECKING:
    from ._network import Account, EmulatedNetwork


class Failure(StrEnum):
    """Per-recipient send outcomes (``results[].type``).

    ``PROOF_REQUIRED`` is not a wire type: signal-cli reports a proof-required
    limit as ``RATE_LIMIT_FAILURE`` with a challenge ``token``.
    """

    NETWORK = "NETWORK_FAILURE"
    UNREGISTERED = "UNREGISTERED_FAILURE"
    IDENTITY = "IDENTITY_FAILURE"
    RATE_LIMIT = "RATE_LIMIT_FAILURE"
    PROOF_REQUIRED = "PROOF_REQUIRED_FAILURE"
    INVALID_PRE_KEY = "INVALID_PRE_KEY_FAILURE"

    @property
    def wire_type(self) -> str:
        return "RATE_LIMIT_FAILURE" if self is Failure.PROOF_REQUIRED else self.value


@attrs.frozen
class RecipientFailure:
    failure: Failure
    token: str | None = None
    retry_after: int | None = None


@attrs.frozen
class MethodFailure:
    code: int
    message: str
    data: Any = None


@attrs.define
class _Armed:
    value: Any
    remaining: int


class Faults:
    """Armed faults of one :class:`EmulatedNetwork` (``network.faults``)."""

    def __init__(self, network: EmulatedNetwork) -> None:
        self._network = network
        self._recipients: dict[str, deque[_Armed]] = {}
        self._methods: dict[str | None, deque[_Armed]] = {}
        self._garbage: deque[_Armed] = deque()
        self._stalled_until = 0.0
        self.challenges: set[str] = set()
        self.reject_captchas = 0

    # -- arming -----------------------------------------------------------------------

    def fail_recipient(
        self,
        recipient: str | Account,
        failure: Failure,
        *,
        times: int = 1,
        token: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        """The next ``times`` deliveries to ``recipient`` fail with ``failure``.

        Applies to every sending method (send, reactions, deletes, typing,
        receipts, group fan-out). ``PROOF_REQUIRED`` gets a challenge token
        (generated if not given) that ``submitRateLimitChallenge`` accepts.
        """
        account = self._network.account(recipient)
        if failure is Failure.PROOF_REQUIRED:
            token = token or f"challenge-{len(self.challenges) + 1}"
            self.challenges.add(token)
            retry_after = 86400 if retry_after is None else retry_after
        armed = _Armed(RecipientFailure(failure, token, retry_after), times)
        self._recipients.setdefault(account.aci, deque()).append(armed)

    def fail_method(
        self, method: str | None, code: int, message: str, *, data: Any = None, times: int = 1
    ) -> None:
        """The next ``times`` calls of ``method`` (any method if ``None``) fail as given."""
        self._methods.setdefault(method, deque()).append(
            _Armed(MethodFailure(code, message, data), times)
        )

    def garbage_next_response(self, data: bytes = b"\x00\xffgarbage{\n", *, times: int = 1) -> None:
        """Replace the next ``times`` JSON-RPC responses (any transport) by ``data``."""
        self._garbage.append(_Armed(data, times))

    def stall_notifications(self, seconds: float) -> None:
        """Hold back receive notifications and SSE events (not responses) for a while."""
        self._stalled_until = time.monotonic() + seconds

    def drop_connections(self) -> None:
        """Close every client connection (sockets, stdio excepted, HTTP and SSE)."""
        self._network.drop_connections()

    def garbled_envelope(self, account: str | Account, payload: Any) -> None:
        """Hand ``payload`` as is to ``account``'s receiver (which must be attached).

        For malformed input no real signal-cli writes; ``account`` is added to
        a dict payload as in a ``receive`` notification.
        """
        target = self._network.account(account)
        sink = self._network.receiver(target)
        if sink is None:
            raise RuntimeError(f"{target.number} is not receiving")
        sink({**payload, "account": target.number} if isinstance(payload, dict) else payload)

    def change_identity(self, account: str | Account) -> bytes:
        """Alias of :meth:`EmulatedNetwork.change_identity`."""
        return self._network.change_identity(account)

    def clear(self) -> None:
        self._recipients.clear()
        self._methods.clear()
        self._garbage.clear()
        self._stalled_until = 0.0
        self.reject_captchas = 0

    # -- consuming (used by the emulator) -------------------------------------------

    @staticmethod
    def _take(queue: deque[_Armed] | None) -> Any:
        if not queue:
            return None
        armed = queue[0]
        armed.remaining -= 1
        if armed.remaining <= 0:
            queue.popleft()
        return armed.value

    def take_recipient_failure(self, aci: str) -> RecipientFailure | None:
        result: RecipientFailure | None = self._take(self._recipients.get(aci))
        return result

    def take_method_failure(self, method: str) -> MethodFailure | None:
        result: MethodFailure | None = self._take(self._methods.get(method)) or self._take(
            self._methods.get(None)
        )
        return result

    def take_garbage(self) -> bytes | None:
        result: bytes | None = self._take(self._garbage)
        return result

    def stall_remaining(self) -> float:
        return max(0.0, self._stalled_until - time.monotonic())

    async def wait_unstalled(self) -> None:
        """Sleep until no stall is armed (a stall may be extended meanwhile)."""
        remaining = self.stall_remaining()
        while remaining > 0:
            await anyio.sleep(remaining)
            remaining = self.stall_remaining()
