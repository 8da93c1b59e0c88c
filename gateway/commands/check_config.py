"""``temix-gateway check-config SITE.yaml``: validate a site file exactly as ``run`` does."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gateway.config import ConfigError, SiteFile, load_site


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "check-config", help="validate a site file and the profiles it uses (exit 0 or 1)"
    )
    parser.add_argument("site_file", type=Path, metavar="SITE.yaml")
    parser.set_defaults(handler=run)


def report_problems(path: Path, err: ConfigError) -> None:
    """Every problem of a site file on stderr, one per line, under a count."""
    count = len(err.problems)
    print(f"{path}: {count} problem{'s' if count != 1 else ''} found:", file=sys.stderr)
    for problem in err.problems:
        print(f"  {problem}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    try:
        site = load_site(args.site_file)
    except ConfigError as err:
        report_problems(args.site_file, err)
        return 1
    config = site.config
    natures = sorted({device.nature for device in config.devices})
    print(f"{args.site_file}: OK — site {config.site.name!r}, {len(config.devices)} devices "
          f"({', '.join(natures)}), market {config.market.market_id}; {_outside(config)}")
    return 0


def _outside(config: SiteFile) -> str:
    """Whom the building buys from outside: what a facility manager checks first."""
    if config.external_market is not None:
        return (f"trades outside with {config.external_market.counterparty_id} at "
                f"{config.external_market.counterparty_url}")
    if config.tariff is not None:
        windows = len(config.tariff.time_of_use)
        return (f"buys at the tariff of {config.tariff.utility_id} (import "
                f"{config.tariff.import_per_kwh}/kWh, {windows} time-of-use window"
                f"{'' if windows == 1 else 's'})")
    return "no external_market or tariff: no grid supply in the market"
