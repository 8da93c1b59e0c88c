"""``temix-gateway run --config SITE.yaml``: the service (under systemd, Type=notify)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from drivers.clock import RealClock
from gateway.commands.check_config import report_problems
from gateway.config import ConfigError, Site, load_site
from gateway.runtime.app import Gateway


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("run", help="run the gateway service for a site")
    parser.add_argument("--config", type=Path, required=True, metavar="SITE.yaml")
    parser.add_argument("--log-level", default="INFO",
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.set_defaults(handler=run)


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")


def run(args: argparse.Namespace) -> int:
    configure_logging(args.log_level)
    try:
        site = load_site(args.config)
    except ConfigError as err:
        report_problems(args.config, err)
        return 1
    return asyncio.run(_serve(site))


async def _serve(site: Site) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with Gateway(site, RealClock()) as gateway:
        await gateway.run(stop=stop)
    return 0
