"""``temix-gateway ledger verify|export|positions``: audit a ledger file, read-only.

Exit codes: 0 success; 1 verification found a bad entry; 2 the ledger cannot be read or
the arguments are wrong (the message says which file or argument and why).
"""

from __future__ import annotations

import argparse
import sys
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TextIO

from gateway.ledger import LedgerError, LedgerReader, verify_ledger
from market.temix import Interval, TemixError, energy_kwh, parse_duration

EXIT_BAD_LEDGER = 1
EXIT_CANNOT_READ = 2


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("ledger", help="verify, export or query the ledger")
    actions = parser.add_subparsers(dest="ledger_command", metavar="ACTION", required=True)

    verify = actions.add_parser("verify", help="check the hash chain and every signature")
    _db_argument(verify)
    verify.set_defaults(handler=run_verify)

    export = actions.add_parser("export", help="write entries as CSV or JSON")
    _db_argument(export)
    export.add_argument("--format", choices=("csv", "json"), default="json")
    export.add_argument("--from", dest="start", type=_instant, help="first time (ISO 8601)")
    export.add_argument("--to", dest="end", type=_instant, help="end time, exclusive")
    export.add_argument("--out", type=Path, help="output file (default: standard output)")
    export.set_defaults(handler=run_export)

    positions = actions.add_parser("positions", help="net position per interval of a day")
    _db_argument(positions)
    positions.add_argument("--party", required=True, help="party id")
    positions.add_argument("--day", required=True, type=date.fromisoformat, help="YYYY-MM-DD")
    positions.add_argument("--zone", default="UTC", help="time zone of the day (default UTC)")
    positions.add_argument(
        "--step", type=_duration, help="interval length, ISO 8601 (default: finest traded)"
    )
    positions.set_defaults(handler=run_positions)


def _db_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", required=True, type=Path, help="ledger database file")


def _instant(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time") from err
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} has no time zone; add one, e.g. {text}+00:00 (a time without a zone "
            "is not UTC)"
        )
    return value


def _duration(text: str) -> timedelta:
    try:
        return parse_duration(text)
    except TemixError as err:
        raise argparse.ArgumentTypeError(str(err)) from err


def run_verify(args: argparse.Namespace) -> int:
    try:
        report = verify_ledger(args.db)
    except LedgerError as err:
        print(f"ledger verify: {err}", file=sys.stderr)
        return EXIT_CANNOT_READ
    if report.failure is not None:
        print(
            f"ledger {args.db}: FAILED at entry {report.failure.seq}: {report.failure.reason}",
            file=sys.stderr,
        )
        return EXIT_BAD_LEDGER
    print(
        f"ledger {args.db}: OK, {report.entries} entries, head {report.head_seq} {report.head_hash}"
    )
    for party, fingerprint in sorted(report.parties.items()):
        print(f"  {party}: {fingerprint}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    try:
        with LedgerReader(args.db) as reader:
            if args.out is None:
                count = reader.export(sys.stdout, args.format, args.start, args.end)
            else:
                with args.out.open("w", encoding="utf-8", newline="") as out:
                    count = reader.export(out, args.format, args.start, args.end)
    except (LedgerError, OSError) as err:
        print(f"ledger export: {err}", file=sys.stderr)
        return EXIT_CANNOT_READ
    print(f"exported {count} entries", file=sys.stderr)
    return 0


def run_positions(args: argparse.Namespace) -> int:
    try:
        with LedgerReader(args.db) as reader:
            rows = reader.positions(args.party, args.day, zone=args.zone, step=args.step)
    except (LedgerError, TemixError, LookupError) as err:
        print(f"ledger positions: {err}", file=sys.stderr)
        return EXIT_CANNOT_READ
    _print_positions(sys.stdout, args.party, args.day, rows)
    return 0


def _print_positions(
    out: TextIO, party: str, day: date, rows: list[tuple[Interval, Decimal]]
) -> None:
    traded = [(interval, kw) for interval, kw in rows if kw]
    print(f"positions of {party} on {day} (kW, + = net seller)", file=out)
    if not traded:
        print("  no transactions", file=out)
        return
    print(
        f"  {'interval start':<27} {'length':<7} {'position_kw':>12} {'energy_kwh':>12}", file=out
    )
    for interval, kw in traded:
        print(
            f"  {interval.start.isoformat():<27} {interval.iso_duration:<7} {kw:>12} "
            f"{energy_kwh(kw, interval):>12.4f}",
            file=out,
        )
