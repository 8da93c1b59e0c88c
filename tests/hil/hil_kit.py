"""Helpers for the HIL tests: the demo site, timelines and a tiny islanding script."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from gateway.config import Site, load_site
from hil.physics import BuildingPhysics, Timeline, build_physics
from hil.scenario import load_scenario

REPO = Path(__file__).resolve().parents[2]
DEMO_SITE = REPO / "config" / "examples" / "demo-site.yaml"
ZONE = ZoneInfo("America/Los_Angeles")
START = datetime(2026, 6, 22, tzinfo=ZONE)


def demo_site() -> Site:
    return load_site(DEMO_SITE)


def timeline(**changes: object) -> Timeline:
    fields: dict[str, object] = {"name": "test", "start": START, "duration_s": 86400.0}
    fields.update(changes)
    return Timeline(**fields)  # type: ignore[arg-type]


def scenario_physics(name: str, seed: int | None = None) -> BuildingPhysics:
    site = demo_site()
    return build_physics(site, load_scenario(name).timeline(ZONE, seed=seed))


class IslandingScript:
    """The least a controller does: open and form on grid loss, close when it returns.

    Stands in for the gateway's islanding controller so the physics can be exercised
    through its own points (the commands a real controller would write).
    """

    def __init__(self, physics: BuildingPhysics, return_delay_s: float = 60.0) -> None:
        self.physics = physics
        self.return_delay_s = return_delay_s
        self._grid_back_since: float | None = None

    def __call__(self) -> None:
        state = self.physics.state
        breaker = state.device("pcc_breaker")
        battery = state.device("battery")
        present = bool(state.device("grid_sense").get("grid_present"))
        closed = bool(breaker.get("status_52a"))
        t = self.physics.t
        if not present and closed and not self.physics.devices.breaker.upstream_open:
            breaker.client_write("trip", True)
            breaker.client_write("trip", False)
            battery.client_write("mode", 1)
            self._grid_back_since = None
        elif present and not closed:
            if self._grid_back_since is None:
                self._grid_back_since = t
            elif t - self._grid_back_since >= self.return_delay_s:
                breaker.client_write("close", True)
                breaker.client_write("close", False)
                battery.client_write("mode", 0)
                self._grid_back_since = None
