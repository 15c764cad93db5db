"""Command line: run the emulator like ``signal-cli daemon`` or ``signal-cli jsonRpc``.

    python -m unimsg_signal.emulator --account +15550000001 --account +15550000002 \\
        --tcp 127.0.0.1:7583 --http 127.0.0.1:8080
    python -m unimsg_signal.emulator --account +15550000001 jsonrpc -a +15550000001

``--account NUMBER[=USERNAME]`` registers accounts on the emulated network.
The daemon serves the first one (or all with ``--multi-account``); the others
are peers, and ``--echo NUMBER`` makes a peer answer every text with
``echo: <text>``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from contextlib import AsyncExitStack, suppress
from typing import Any

import anyio

from ._daemon import Daemon, ReceiveMode
from ._http import serve_http
from ._network import Account, EmulatedNetwork
from ._server import serve_stdio, serve_tcp, serve_unix


def _host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m unimsg_signal.emulator",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--account", action="append", default=[], metavar="NUMBER[=USERNAME]")
    parser.add_argument("--multi-account", action="store_true")
    parser.add_argument("--tcp", metavar="HOST:PORT")
    parser.add_argument("--socket", metavar="PATH")
    parser.add_argument("--http", metavar="HOST:PORT")
    parser.add_argument(
        "--receive-mode", choices=[m.value for m in ReceiveMode], default="on-start"
    )
    parser.add_argument("--keepalive", type=float, default=15.0, help="SSE keep-alive seconds")
    parser.add_argument("--echo", action="append", default=[], metavar="NUMBER")
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    # signal-cli's own form, ``-a NUMBER jsonRpc``, works too.
    parser.add_argument("-a", dest="serve_first", metavar="NUMBER", help="the account to serve")
    sub = parser.add_subparsers(dest="command")
    jsonrpc = sub.add_parser("jsonrpc", aliases=["jsonRpc"], help="serve JSON-RPC on stdin/stdout")
    jsonrpc.add_argument("-a", "--account", dest="serve", metavar="NUMBER")
    jsonrpc.add_argument(
        "--receive-mode", dest="jsonrpc_mode", choices=[m.value for m in ReceiveMode]
    )
    return parser.parse_args(argv)


def _echo(network: EmulatedNetwork, bot: Account) -> None:
    def reply(payload: dict[str, Any]) -> None:
        envelope = payload.get("envelope") or {}
        text = (envelope.get("dataMessage") or {}).get("message")
        if text:
            network.send_text(bot, envelope["sourceUuid"], f"echo: {text}")

    network.attach(bot, reply)


async def main(args: argparse.Namespace) -> None:
    network = EmulatedNetwork()
    for spec in args.account or ["+15550000001"]:
        number, _, username = spec.partition("=")
        network.register(number, username=username or None)
    for number in args.echo:
        _echo(network, network.register(number))
    accounts = network.accounts
    if args.command in ("jsonrpc", "jsonRpc"):
        args.serve = args.serve or args.serve_first
        served = [network.register(args.serve)] if args.serve else accounts
        mode = args.jsonrpc_mode or args.receive_mode
        daemon = Daemon(
            network,
            served if args.serve else accounts[:1],
            receive_mode=mode,
            stdout_handler=False,
            multi_account=not args.serve and args.multi_account,
        )
        async with daemon:
            await serve_stdio(daemon)
        return
    if not (args.tcp or args.socket or args.http):
        sys.exit("At least one channel parameter is required, e.g. --socket or --tcp or --http.")
    served = accounts if args.multi_account else accounts[:1]
    daemon = Daemon(
        network,
        served,
        multi_account=args.multi_account,
        receive_mode=args.receive_mode,
        keepalive_interval=args.keepalive,
    )
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(daemon)
        if args.tcp:
            tcp = await stack.enter_async_context(serve_tcp(daemon, *_host_port(args.tcp)))
            print(f"tcp {tcp.host}:{tcp.port}", file=sys.stderr, flush=True)
        if args.socket:
            unix = await stack.enter_async_context(serve_unix(daemon, args.socket))
            print(f"socket {unix.path}", file=sys.stderr, flush=True)
        if args.http:
            http = await stack.enter_async_context(serve_http(daemon, *_host_port(args.http)))
            print(f"http {http.url}", file=sys.stderr, flush=True)
        await anyio.sleep_forever()


def run(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    with suppress(KeyboardInterrupt):
        anyio.run(main, args, backend=args.backend)


if __name__ == "__main__":
    run()
