"""``temix-gateway discover PROTOCOL``: find devices and print ready-to-paste site entries.

One sub-subcommand per protocol; a protocol module adds itself by putting its
``add_parser(subparsers)`` into ``PROTOCOLS``.

``discover modbus --host H [--port P] [--unit U ...]`` or ``--serial PORT [--baud B]``:
SunSpec discovery on each unit id; prints a device entry (nature, shipped profile,
connection) per SunSpec device, and says so for a device that is not SunSpec. Exit codes:
0 at least one SunSpec device; 1 none (no answer, or not SunSpec); 2 bad arguments.

``discover bacnet [--bbmd ADDR]``: Who-Is, then each device's objects as a profile draft
and a device entry (:mod:`gateway.commands.bacnet_discovery`).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from gateway.commands import bacnet_discovery

if TYPE_CHECKING:
    from drivers.modbus.client import SerialEndpoint, TcpEndpoint
    from drivers.modbus.discovery import Finding

EXIT_NONE_FOUND = 1
EXIT_BAD_USAGE = 2


def add_modbus_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "modbus", help="SunSpec discovery on Modbus TCP or RTU; print site device entries")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--host", help="Modbus TCP host name or IP address")
    target.add_argument("--serial", metavar="PORT", help="serial port, e.g. /dev/ttyUSB0")
    parser.add_argument("--port", type=int, default=502, help="TCP port (default 502)")
    parser.add_argument("--unit", type=int, action="append", metavar="U",
                        help="unit id to probe; repeat for several (default 1)")
    parser.add_argument("--baud", type=int, default=9600, help="serial baud (default 9600)")
    parser.add_argument("--parity", choices=("N", "E", "O"), default="E",
                        help="serial parity (default E)")
    parser.add_argument("--timeout", type=float, default=1.0, metavar="S",
                        help="seconds to wait for each answer (default 1)")
    parser.set_defaults(handler=run_modbus)


PROTOCOLS: tuple[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None], ...] \
    = (add_modbus_parser, bacnet_discovery.add_parser)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("discover", help="find devices and print site entries")
    protocols = parser.add_subparsers(dest="protocol", metavar="PROTOCOL", required=True)
    for add_parser in PROTOCOLS:
        add_parser(protocols)


def run_modbus(args: argparse.Namespace) -> int:
    units = args.unit or [1]
    if any(not 0 <= u <= 247 for u in units) or args.timeout <= 0:
        print("discover modbus: unit ids are 0-247 and --timeout is positive", file=sys.stderr)
        return EXIT_BAD_USAGE
    # imported here: pymodbus is loaded only by the commands that speak Modbus
    from drivers.modbus.client import SerialEndpoint, TcpEndpoint
    from drivers.modbus.discovery import render

    endpoint: TcpEndpoint | SerialEndpoint
    if args.host:
        endpoint = TcpEndpoint(args.host, args.port, args.timeout)
    else:
        endpoint = SerialEndpoint(args.serial, args.baud, args.parity, 1, args.timeout)
    findings = asyncio.run(_probe_all(endpoint, units))
    for finding in findings:
        print(render(finding, endpoint), end="")
    return 0 if any(f.chain is not None for f in findings) else EXIT_NONE_FOUND


async def _probe_all(endpoint: TcpEndpoint | SerialEndpoint, units: list[int]) -> list[Finding]:
    from drivers.modbus.client import ModbusLink
    from drivers.modbus.discovery import probe

    link = ModbusLink(endpoint)
    try:
        return [await probe(link, unit) for unit in units]
    finally:
        await link.close()
