"""``temix-gateway discover bacnet``: find BACnet/IP devices and draft their profiles.

Sends a global Who-Is (through a BBMD with ``--bbmd``, as a registered foreign device),
then reads each answering device's object list and object names, and prints per device a
profile draft and a site-file device entry on standard output (progress and problems go
to standard error). Exit codes: 0 devices found; 1 none answered; 2 bad arguments or the
local port is in use.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from drivers.bacnet.ports import PortInUse, split_address
from drivers.profile import Nature

EXIT_NONE_FOUND = 1
EXIT_BAD_USAGE = 2
NATURES: tuple[str, ...] = Nature.__args__  # type: ignore[attr-defined]


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "bacnet", help="Who-Is on BACnet/IP; print a profile draft and device entry per device")
    parser.add_argument("--bbmd", metavar="HOST[:PORT]",
                        help="register with this BBMD as a foreign device and broadcast through "
                             "it (reaches other subnets, and other ports on one machine)")
    parser.add_argument("--local-address", metavar="IP/PREFIX[:PORT]",
                        help="our BACnet/IP address with its prefix, e.g. 192.168.1.10/24 "
                             "(default with --bbmd: any address, a free port)")
    parser.add_argument("--timeout", type=float, default=3.0, metavar="S",
                        help="seconds to wait for I-Am answers and for each read (default 3)")
    parser.add_argument("--low", type=int, metavar="N", help="lowest device instance")
    parser.add_argument("--high", type=int, metavar="N", help="highest device instance")
    parser.add_argument("--nature", choices=NATURES, default="load",
                        help="device nature written into the drafts (default load)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    problem = _check(args)
    if problem:
        print(f"discover bacnet: {problem}", file=sys.stderr)
        return EXIT_BAD_USAGE
    local = args.local_address or "0.0.0.0:0"
    # imported here: bacpypes3 is loaded only by the command that speaks BACnet
    from drivers.bacnet.stack import BacnetRequestError

    try:
        text, count = asyncio.run(_discover(local, args))
    except PortInUse as err:
        print(f"discover bacnet: {err.strerror}", file=sys.stderr)
        return EXIT_BAD_USAGE
    except BacnetRequestError as err:
        print(f"discover bacnet: {err}", file=sys.stderr)
        return EXIT_NONE_FOUND
    if count == 0:
        print(f"discover bacnet: no device answered Who-Is within {args.timeout:g} s; check "
              "the network, the local address prefix, or give --bbmd", file=sys.stderr)
        return EXIT_NONE_FOUND
    sys.stdout.write(text)
    print(f"discover bacnet: {count} device(s) found", file=sys.stderr)
    return 0


def _check(args: argparse.Namespace) -> str | None:
    if (args.low is None) != (args.high is None):
        return "give both --low and --high, or neither"
    if args.local_address is None and args.bbmd is None:
        return ("give --local-address IP/PREFIX (your interface address with its prefix, e.g. "
                "192.168.1.10/24) so Who-Is can be broadcast, or --bbmd HOST:PORT")
    for option in ("local_address", "bbmd"):
        value = getattr(args, option)
        if value is None:
            continue
        try:
            split_address(value)
        except ValueError:
            return f"--{option.replace('_', '-')} {value!r} is not IPv4[/PREFIX][:PORT]"
    return None


async def _discover(local: str, args: argparse.Namespace) -> tuple[str, int]:
    from drivers.bacnet.discover import discover, render
    from drivers.bacnet.stack import BacnetStack

    stack = BacnetStack(local, bbmd=_with_port(args.bbmd))
    await stack.start()
    try:
        devices = await discover(stack, timeout_s=args.timeout, low=args.low, high=args.high)
    finally:
        stack.close()
        await asyncio.sleep(0)
    return render(devices, nature=args.nature), len(devices)


def _with_port(address: Any) -> str | None:
    if address is None:
        return None
    host, _, port = split_address(address)
    return f"{host}:{port}"
