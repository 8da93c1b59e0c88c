"""``temix-gateway hil --config SITE.yaml``: run the simulated building of a site.

Starts every simulated device on the address the site file gives (Modbus TCP/RTU,
BACnet/IP, OPC UA, GPIO mock pins) and the simulated external market at
``external_market.counterparty_url``, prints ``ready`` on standard output once all of
them listen, then runs the scenario's physics until it ends or SIGINT/SIGTERM arrives;
either way everything is shut down and every port released. Messages go to standard
error. Exit codes: 0 the scenario ended or was stopped; 1 the site or scenario file is
invalid; 2 the rig could not start (e.g. a port in use — the message says which).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from drivers.clock import Clock, RealClock, ScaledClock
from drivers.yamldoc import ConfigError
from gateway.config import Site, load_site
from hil.physics import SiteNotSimulable
from hil.scenario import DEFAULT_SCENARIO, Scenario, load_scenario, shipped_scenarios

EXIT_INVALID = 1
EXIT_CANNOT_START = 2


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "hil", help="run the simulated building of a site (devices, physics, external market)"
    )
    parser.add_argument("--config", type=Path, required=True, metavar="SITE.yaml",
                        help="the site file whose devices are simulated")
    parser.add_argument("--scenario", default=DEFAULT_SCENARIO, metavar="NAME",
                        help=f"a scenario in config/scenarios ({', '.join(shipped_scenarios())}) "
                             f"or a path to a scenario file (default {DEFAULT_SCENARIO})")
    parser.add_argument("--speed", type=_positive, default=1.0, metavar="N",
                        help="simulated seconds per real second (default 1)")
    parser.add_argument("--seed", type=int, default=None, metavar="S",
                        help="random seed (default: the scenario's)")
    parser.add_argument("--start", type=_start, default=None, metavar="now|ISO",
                        help="start the run at this time instead of the scenario's start "
                             "('now' with speed 1 runs on the real clock, to trade against a "
                             "gateway in another process)")
    parser.set_defaults(handler=run)


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("speed must be above zero")
    return value


def _start(text: str) -> datetime | str:
    if text == "now":
        return text
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs a UTC offset (e.g. +00:00)")
    return moment


def run(args: argparse.Namespace) -> int:
    try:
        site = load_site(args.config)
        scenario = load_scenario(args.scenario)
    except ConfigError as err:
        print(f"hil: {len(err.problems)} problem(s) found:", file=sys.stderr)
        for problem in err.problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_INVALID
    try:
        return asyncio.run(_serve(site, scenario, args))
    except ConfigError as err:
        for problem in err.problems:
            print(f"hil: {problem}", file=sys.stderr)
        return EXIT_INVALID
    except (SiteNotSimulable, ValueError) as err:
        print(f"hil: {err}", file=sys.stderr)
        return EXIT_INVALID


async def _serve(site: Site, scenario: Scenario, args: argparse.Namespace) -> int:
    # imported here: the simulators (BACnet, OPC UA, HTTP servers) would otherwise be loaded
    # into every ``temix-gateway`` process, the service's too
    from hil.rig import BuildingRig

    clock: Clock
    moved: datetime | None
    if args.start == "now":
        # live against a gateway in another process: share its (the real) clock
        now = datetime.now(UTC).replace(microsecond=0)
        clock = RealClock() if args.speed == 1 else ScaledClock(now, args.speed)
        moved = now
    else:
        moved = args.start
        clock = ScaledClock(moved or scenario.start(ZoneInfo(site.config.site.timezone)),
                            args.speed)
    rig = BuildingRig(site, scenario, clock, args.seed, start=moved)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with contextlib.AsyncExitStack() as stack:
            try:
                await stack.enter_async_context(rig)
            except (OSError, RuntimeError) as err:
                # pymodbus reports a busy address as RuntimeError, the others as OSError
                print(f"hil: cannot start the simulated building: {err}; is another rig or "
                      "a real device server using the site's ports?", file=sys.stderr)
                return EXIT_CANNOT_START
            timeline = rig.timeline
            print(f"hil: {site.config.site.name!r}: scenario {timeline.name!r} from "
                  f"{timeline.start.isoformat()} for {timeline.duration_s:g} s at "
                  f"{args.speed:g}x, seed {timeline.seed}; counterparty "
                  f"{rig.counterparty_url or 'none (the site buys at its tariff)'}",
                  file=sys.stderr)
            print("ready", flush=True)
            finished = asyncio.create_task(rig.finished())
            stopped = asyncio.create_task(stop.wait())
            try:
                await asyncio.wait({finished, stopped}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (finished, stopped):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            physics = rig.physics
            why = "stopped" if stop.is_set() else "scenario ended"
            print(f"hil: {why} at simulated {physics.now.isoformat()} after {physics.steps} "
                  f"steps", file=sys.stderr)
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    return 0
