"""The ``rayscope`` command: lifecycle commands (cli/lifecycle.py) + the state CLI (cli/state_cli.py)."""

from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from rayscope.cli import alerts_cli, lifecycle, metrics_cli, profile_cli, state_cli
from rayscope.cli.signals import ctrl_c_interrupts

# Subcommands that forward options they do not know (to `ray start`, to the agent).
_FORWARDING = {"start", "agent"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rayscope", description="Observability dashboard and remote debugger for Ray clusters"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    lifecycle.register(sub)
    state_cli.register(sub)
    metrics_cli.register(sub)
    profile_cli.register(sub)
    alerts_cli.register(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command not in _FORWARDING:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.forward = extra
    ctrl_c_interrupts()
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
