"""The ``temix-gateway`` console script: one parser, one module per subcommand.

Each module in :mod:`gateway.commands` exposes ``register(subparsers)``, which adds its
parser and sets ``handler`` (a function taking the parsed namespace and returning the exit
code). A subcommand is listed here only once it really works.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from gateway.commands import check_config, demo, discover, hil, ledger, run, version

COMMANDS = (version, check_config, run, demo, ledger, hil, discover)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="temix-gateway",
        description="TeMIX building gateway: local micromarket, external trading, islanding.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
