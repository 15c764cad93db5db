"""The ``unimsg`` command: parsing, logging, and one line per failure.

The commands themselves are in ``_cli_commands``. Every failure ends as one
line per problem on stderr and a non-zero exit; a traceback only with ``-v``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

import anyio

from ._exceptions import ConfigError, UnimsgError

__all__ = ["build_parser", "main"]

DEFAULT_TIMEOUT = 30.0
#: shtab's marker for "complete file names" (shtab.FILE), without importing shtab here.
_FILES = {"bash": "_shtab_compgen_files", "zsh": "_files", "tcsh": "f"}


def _check_positive(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    # After parsing rather than in a ``type=`` function: argparse only shows the
    # message of its own ArgumentTypeError, which is not in unimsg's error tree.
    count = getattr(args, "count", None)
    if count is not None and count <= 0:
        parser.error(f"argument --count: must be a positive number, not {count}")
    timeout = getattr(args, "timeout", None)
    if timeout is not None and timeout <= 0:
        parser.error(f"argument --timeout: must be a positive number of seconds, not {timeout:g}")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="unimsg", description="One messaging API over Signal, Matrix and a fake network."
    )
    parser.add_argument("--version", action="version", version=f"unimsg {__version__}")
    noise = parser.add_mutually_exclusive_group()
    noise.add_argument(
        "-v", "--verbose", action="store_true", help="log at DEBUG (secrets are scrubbed)"
    )
    noise.add_argument("-q", "--quiet", action="store_true", help="no progress messages")
    noise.add_argument(
        "--log-level",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="show log records of this level and above, from every library",
    )
    # Options every command that reads a configuration shares.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        metavar="FILE",
        help="TOML configuration (default: $UNIMSG_CONFIG, then ./unimsg.toml)",
    ).complete = _FILES  # type: ignore[attr-defined]
    common.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"longest wait to connect, and for each operation (default {DEFAULT_TIMEOUT:g})",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("demo", help="run the hybrid ops bot on the in-memory fake network")
    send = sub.add_parser("send", parents=[common], help="send one message")
    send.add_argument("target", help="an address (signal:+1555...) or a contact name")
    send.add_argument("text", nargs="?", help="the text; '-' (or none) reads it from stdin")
    send.add_argument(
        "--file", metavar="PATH", help="read the text from this file"
    ).complete = _FILES  # type: ignore[attr-defined]
    send.add_argument("--markdown", action="store_true", help="render the text as markdown")
    listen = sub.add_parser("listen", parents=[common], help="print incoming events as JSON lines")
    listen.add_argument("--count", type=int, metavar="N", help="stop after N events (N > 0)")
    sub.add_parser("conversations", parents=[common], help="list conversations as JSON lines")
    sub.add_parser(
        "status",
        parents=[common],
        help="the store: outbox depth, and which process reads each account",
    )
    check = sub.add_parser("check", help="validate a configuration without connecting")
    check.add_argument(
        "config", nargs="?", metavar="CONFIG", help="the file to check"
    ).complete = _FILES  # type: ignore[attr-defined]
    sub.add_parser("adapters", help="list installed adapters and whether they can be used")
    completion = sub.add_parser("completion", help="print a shell completion script")
    completion.add_argument("shell", choices=["bash", "zsh"])
    return parser


def configure_logging(args: argparse.Namespace) -> None:
    """Only unimsg's own warnings by default; every library's records with -v/--log-level."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    if args.verbose or args.log_level:
        root.setLevel(logging.DEBUG if args.verbose else args.log_level)
        return
    root.setLevel(logging.WARNING)
    # Other libraries' warnings (matrix-nio, asyncio) are not the user's business here.
    handler.addFilter(lambda record: record.name.split(".")[0] == "unimsg")


def _completion(args: argparse.Namespace) -> None:
    import shtab

    print(shtab.complete(build_parser(), shell=args.shell))


def _report(lines: Sequence[str], *, prefix: str = "unimsg: ") -> None:
    for line in lines:
        print(f"{prefix}{line}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _check_positive(parser, args)
    configure_logging(args)
    from . import _cli_commands as commands

    try:
        if args.command == "adapters":
            return commands.adapters(args)
        if args.command == "completion":
            _completion(args)
            return 0
        if args.command == "check":
            return commands.check(args)
        run = {
            "demo": commands.demo,
            "send": commands.send,
            "listen": commands.listen,
            "conversations": commands.conversations,
            "status": commands.status,
        }[args.command]
        anyio.run(run, args)
    except commands.CommandFailed as exc:
        _report(exc.lines)
    except ConfigError as exc:
        # Each line already starts with the file it is about, like a compiler's.
        _report(exc.lines(), prefix="" if exc.source else "unimsg: ")
    except UnimsgError as exc:
        _report([f"{type(exc).__name__}: {exc}"])
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (``unimsg listen | head``): nothing left to say.
        sys.stderr.close()
        return 0
    except Exception as exc:
        if args.verbose:
            raise
        _report([f"unexpected {type(exc).__name__}: {exc} (run with -v for details)"])
    else:
        return 0
    if args.verbose:
        import traceback

        traceback.print_exc()
    return 1


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
