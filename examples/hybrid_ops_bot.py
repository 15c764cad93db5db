"""The hybrid ops bot: people are paged over Signal, the team room on Matrix gets summaries.

    python examples/hybrid_ops_bot.py        # the narrated run of ``unimsg demo``
    python examples/hybrid_ops_bot.py --config unimsg.toml --team ops \\
        --page alice --incident api-7 --text "Deploy of api-7 failed."

With a configuration the bot pages the named contact (routed by the
configured routes, "people to Signal"), tells the team contact, then serves
``!ack INCIDENT`` and ``!status`` until Ctrl-C. The bot itself is
``unimsg._demo.OpsBot``, built on ``unimsg.Bot``.
"""

from __future__ import annotations

import argparse

import anyio

from unimsg._config import load_config
from unimsg._demo import OpsBot, run_demo


async def with_config(args: argparse.Namespace) -> None:
    config = load_config(args.config)
    async with config.client() as client:
        ops = OpsBot(client, team=config.contacts[args.team], contacts=config.contacts)
        if args.page:
            await ops.page(config.contacts[args.page], args.incident, args.text)
            await ops.tell_team(f"**{args.incident}**: {args.text} {args.page} is paged.")
        print(f"ops bot running ({', '.join('!' + c for c in ops.bot.commands)}); Ctrl-C to stop")
        await ops.bot.run()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="a unimsg.toml; without it, run on the fake network")
    parser.add_argument("--team", default="ops", help="the team's contact name")
    parser.add_argument("--page", help="a person's contact name to page at start")
    parser.add_argument("--incident", default="incident-1")
    parser.add_argument("--text", default="Something needs a human.")
    args = parser.parse_args()
    if args.config is None:
        anyio.run(run_demo)
    else:
        anyio.run(with_config, args)


if __name__ == "__main__":
    main()
