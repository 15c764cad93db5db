"""An offline emulator of the signal-cli daemon's JSON-RPC interface.

Several accounts share one :class:`EmulatedNetwork`; a :class:`Daemon`
serves some of them over the same transports as ``signal-cli daemon``::

    network = EmulatedNetwork()
    alice = network.register("+15550000001", username="alice.01")
    bob = network.register("+15550000002")
    async with Daemon(network, [alice]) as daemon, serve_tcp(daemon) as server:
        ...  # connect to 127.0.0.1:server.port and speak JSON-RPC
        network.send_text(bob, alice, "hi")  # arrives as a receive notification

Faults are armed on ``network.faults`` (see :class:`Faults`). From a shell:
``python -m unimsg_signal.emulator --tcp 127.0.0.1:7583 --account +15550000001``.
"""

from ._daemon import VERSION, Daemon, ReceiveMode, Subscriber
from ._envelopes import Delivery
from ._faults import Failure, Faults
from ._http import HttpServer, serve_http
from ._network import (
    Account,
    Contact,
    EmulatedNetwork,
    Group,
    LinkMode,
    Profile,
    TrustLevel,
)
from ._safety import safety_number
from ._server import SocketServer, StdioStream, serve_stdio, serve_stream, serve_tcp, serve_unix

__all__ = [
    "VERSION",
    "Account",
    "Contact",
    "Daemon",
    "Delivery",
    "EmulatedNetwork",
    "Failure",
    "Faults",
    "Group",
    "HttpServer",
    "LinkMode",
    "Profile",
    "ReceiveMode",
    "SocketServer",
    "StdioStream",
    "Subscriber",
    "TrustLevel",
    "safety_number",
    "serve_http",
    "serve_stdio",
    "serve_stream",
    "serve_tcp",
    "serve_unix",
]
