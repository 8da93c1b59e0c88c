"""HIL physics benchmark: a simulated 24-hour day of the demo building at maximum speed.

Physics only (no protocol servers, no gateway): 86,400 one-second steps of the bus
balance, grid, breaker, PV, loads, HVAC zones, EV charger, battery and meters, stepped
by hand as a ManualClock rig would. Prints wall seconds and steps per second for each
scenario asked for (default: normal-day and outage). Target: a day in ≤ 10 s.

Run: ``python bench/hil_day.py [--scenario NAME ...] [--repeat N]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

# Run as a script, this folder is first on sys.path, where bench/market.py would shadow the
# market package: look the packages up from the project instead.
sys.path[:] = [entry for entry in sys.path if Path(entry).resolve() != Path(__file__).parent]

from gateway.config import load_site  # noqa: E402
from hil.physics import build_physics  # noqa: E402
from hil.scenario import load_scenario  # noqa: E402

DEMO_SITE = Path(__file__).resolve().parent.parent / "config" / "examples" / "demo-site.yaml"


def run_day(scenario_name: str) -> tuple[float, int, float]:
    """Wall seconds, steps and grid import (kWh) of one simulated day."""
    site = load_site(DEMO_SITE)
    timeline = load_scenario(scenario_name).timeline(ZoneInfo(site.config.site.timezone))
    physics = build_physics(site, timeline)
    step = physics.step
    total = round(timeline.duration_s / timeline.step_s)
    began = time.perf_counter()
    for _ in range(total):
        step()
    wall = time.perf_counter() - began
    pcc = physics.devices.pcc_meter
    imported = pcc.energy_import_kwh if pcc is not None else 0.0
    return wall, physics.steps, imported


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", action="append", default=None, metavar="NAME")
    parser.add_argument("--repeat", type=int, default=3, help="runs per scenario (best kept)")
    args = parser.parse_args()
    names = args.scenario or ["normal-day", "outage"]
    print(f"{'scenario':<24}{'steps':>8}{'wall s':>9}{'steps/s':>11}{'import kWh':>12}")
    for name in names:
        runs = [run_day(name) for _ in range(max(1, args.repeat))]
        wall, steps, imported = min(runs)
        print(f"{name:<24}{steps:>8}{wall:>9.2f}{steps / wall:>11,.0f}{imported:>12.1f}")


if __name__ == "__main__":
    main()
