"""``temix-gateway demo``: the simulated demo building and the gateway, accelerated.

Prints a line per simulated hour (time, clearing price, the building's position, battery
state of charge, grid state) and every islanding event, then a day summary; the summary
is also written as JSON next to the demo ledger. Exit 0 when the day ran, the ledger
verifies and money was conserved in every settlement; 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from drivers.yamldoc import ConfigError
from gateway.commands.check_config import report_problems
from gateway.commands.run import configure_logging
from gateway.config import load_site
from gateway.config.site import parse_duration
from hil.scenario import load_scenario, shipped_scenarios

DEMO_SITE = Path(__file__).resolve().parents[2] / "config" / "examples" / "demo-site.yaml"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "demo", help="run the simulated demo building with the gateway in the loop")
    parser.add_argument("--speed", type=float, default=2000.0, metavar="N",
                        help="simulated seconds per real second (default 2000)")
    parser.add_argument("--duration", default="24h", metavar="D",
                        help="how much simulated time to run (default 24h)")
    parser.add_argument("--scenario", default="outage", metavar="NAME",
                        help=f"scenario ({', '.join(shipped_scenarios())}; default outage)")
    parser.add_argument("--seed", type=int, default=None, metavar="S")
    parser.add_argument("--config", type=Path, default=DEMO_SITE, metavar="SITE.yaml",
                        help="site file (default: the demo building)")
    parser.add_argument("--log-level", default="WARNING",
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    # imported here: the simulated building (BACnet, OPC UA, HTTP servers) would otherwise
    # be loaded into every ``temix-gateway`` process, the service's too
    from gateway.runtime.demo import RigStartError, format_summary, run_demo

    configure_logging(args.log_level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    try:
        site = load_site(args.config)
        scenario = load_scenario(args.scenario)
        duration = parse_duration(args.duration)
    except ConfigError as err:
        report_problems(args.config, err)
        return 1
    except ValueError as err:
        print(f"demo: {err}", file=sys.stderr)
        return 1
    if args.speed <= 0:
        print("demo: --speed must be above zero", file=sys.stderr)
        return 1
    try:
        summary = asyncio.run(run_demo(site, scenario, speed=args.speed, duration=duration,
                                       seed=args.seed,
                                       emit=lambda line: print(line, flush=True)))
    except RigStartError as err:
        print(f"demo: cannot start the simulated building: {err.__cause__}; is another "
              "`temix-gateway demo` or `hil` using the site's ports?", file=sys.stderr)
        return 2
    for line in format_summary(summary):
        print(line)
    return 0 if summary.ledger_verified and summary.money_conserved else 1
