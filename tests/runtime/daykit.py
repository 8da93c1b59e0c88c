"""Run the simulated building and the gateway together for a few simulated hours, with a
test script acting on the rig at chosen clock times (the way ``run_demo`` runs a day)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from drivers.clock import ScaledClock
from gateway.config import Site
from gateway.runtime.app import Gateway
from gateway.runtime.demo import MIN_REAL_POLL_S
from hil.rig import BuildingRig
from hil.scenario import load_scenario

Script = Callable[[BuildingRig, Gateway, "Moments"], Coroutine[Any, Any, None]]


def write_scenario(folder: Path, *, start: str, duration: str, name: str = "short-day") -> Path:
    """A clear day with a stable grid and no EV, from ``start`` (local) for ``duration``."""
    path = folder / f"{name}.yaml"
    path.write_text(
        f"name: {name}\n"
        "description: clear sky, stable grid, no EV session\n"
        f'start: "{start}"\n'
        f"duration: {duration}\n"
        "step: 1s\n"
        "seed: 1\n"
        "battery_soc_pct: 60\n",
        encoding="utf-8",
    )
    return path


class Moments:
    """Waits for clock times of the run."""

    def __init__(self, clock: ScaledClock, start: datetime) -> None:
        self.clock = clock
        self.start = start

    def at(self, offset: timedelta) -> datetime:
        return self.start + offset

    async def until(self, offset: timedelta) -> None:
        """Until ``offset`` after the start on the clock (checked every few real ms)."""
        while self.clock.now() < self.start + offset:
            await asyncio.sleep(0.005)


async def run_day(site: Site, scenario_file: Path, *, speed: float, duration: timedelta,
                  script: Script | None = None,
                  after_stop: Callable[[BuildingRig, Gateway], None] | None = None) -> None:
    """Rig and gateway in one process on a ScaledClock; ``script`` runs beside the
    gateway's control loop; ``after_stop`` sees both once the gateway has stopped."""
    scenario = load_scenario(scenario_file)
    start = scenario.start(ZoneInfo(site.config.site.timezone))
    clock = ScaledClock(start, speed)
    clock.hold()
    async with BuildingRig(site, scenario, clock) as rig:
        options = {
            "gpio": {"pin_factory": rig.pin_factory},
            "bacnet": {"cov_lifetime_s": 6 * 3600, "cov_audit_s": 3600},
        }
        gateway = Gateway(site, clock, driver_options=options, min_real_poll_s=MIN_REAL_POLL_S)
        async with gateway:
            clock.release()
            moments = Moments(clock, start)
            acting: asyncio.Task[None] | None = (
                asyncio.create_task(script(rig, gateway, moments)) if script else None)
            try:
                await gateway.run(until=start + duration)
                if acting is not None:
                    await acting  # a failed script fails the run
            finally:
                if acting is not None and not acting.done():
                    acting.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await acting
        if after_stop is not None:
            after_stop(rig, gateway)

