"""Run the demo building and the gateway together on a short islanding scenario.

Each run writes its own scenario file and a private copy of the demo site (free ports,
state in the test's folder) and goes through :func:`gateway.runtime.demo.run_demo`, so
the gateway reaches the simulated building over Modbus TCP/RTU, GPIO, OPC UA and BACnet
on loopback. What the building really did is recorded at the physical edge: every write
the gateway makes to the PCC breaker's coils (with the clock time), the grid's own
voltage and frequency step by step, and the physics log.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sitekit import private_demo_site

from drivers.clock import Clock
from gateway.config import load_site
from gateway.config.loader import Site
from gateway.islanding.messages import RaiseAlarm, State, Transition
from gateway.ledger.connection import open_reader
from gateway.ledger.entries import Entry, EntryKind
from gateway.ledger.queries import events
from gateway.runtime import demo
from gateway.runtime.app import Gateway, site_path
from gateway.runtime.demo import DaySummary
from hil.physics.breaker import COMMAND_POINTS
from hil.physics.building import BuildingPhysics
from hil.rig import BuildingRig
from hil.scenario import Scenario, load_scenario
from hil.state import Value

BREAKER = "pcc_breaker"


@dataclass
class GridSample:
    """The utility side at one physics step (what the grid really did); ``clock_s`` is
    when that step ran, i.e. when the devices began to show it."""

    t_s: float
    clock_s: float
    present: bool
    voltage_pu: float
    frequency_hz: float


@dataclass
class Run:
    """What one run left behind: the gateway, the building and their records."""

    site: Site
    rig: BuildingRig
    gateway: Gateway
    summary: DaySummary
    until_s: float  # when the gateway stopped (and reverted its devices), from the start
    breaker_writes: list[tuple[float, str, Value]]
    grid: list[GridSample]
    ledger: list[Entry] = field(default_factory=list)
    pins: dict[str, bool] = field(default_factory=dict)

    @property
    def physics(self) -> BuildingPhysics:
        return self.rig.physics

    @property
    def transitions(self) -> list[Transition]:
        return list(self.gateway.status.transitions)

    @property
    def alarms(self) -> list[RaiseAlarm]:
        return list(self.gateway.status.alarms)

    def moves(self) -> list[tuple[float, State, State]]:
        return [(t.at_s, t.from_state, t.to_state) for t in self.transitions]

    def first(self, state: State, after_s: float = float("-inf")) -> Transition:
        found = [t for t in self.transitions if t.to_state is state and t.at_s > after_s]
        assert found, f"never reached {state}: {self.moves()}"
        return found[0]

    def commands(self, *points: str) -> list[tuple[float, str]]:
        """Rising edges the gateway drove on the breaker's coils (trip, close, backup)."""
        return [(at, point) for at, point, value in self.breaker_writes
                if value and (not points or point in points)]

    def grid_lost_seen_s(self, after_s: float) -> float:
        """Clock time at which the devices first showed the grid gone after ``after_s``
        (the physics may lag its clock a little on a busy machine)."""
        return next(s.clock_s for s in self.grid if s.t_s >= after_s and not s.present)

    def physics_log(self, text: str) -> list[float]:
        """Physics times of the log lines that start with ``text``."""
        return [t for t, line in self.physics.log if line.startswith(text)]

    def breaker_log(self, text: str) -> list[float]:
        return [t for t, line in self.physics.devices.breaker.log if line.startswith(text)]


def scenario_file(folder: Path, name: str, body: str) -> Scenario:
    path = folder / f"{name}.yaml"
    path.write_text(f"name: {name}\n{body}", encoding="utf-8")
    return load_scenario(path)


class _RecordingRig(BuildingRig):
    """The rig, with the gateway's breaker writes and the grid's levels recorded."""

    writes: list[tuple[float, str, Value]]
    grid_samples: list[GridSample]
    open_breaker_at_start = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.writes = []
        self.grid_samples = []
        clock: Clock = self.clock

        def written(point: str, value: Value) -> None:
            if point in COMMAND_POINTS:
                self.writes.append((clock.monotonic(), point, value))

        self.state.device(BREAKER).on_client_write(written)
        grid = self.physics.grid
        step = grid.step

        def recorded_step(t: float, dt: float) -> None:
            step(t, dt)
            self.grid_samples.append(GridSample(t, clock.monotonic(), grid.present,
                                                grid.voltage_pu, grid.frequency_hz))

        grid.step = recorded_step  # type: ignore[method-assign]

    async def _start(self) -> None:
        if self.open_breaker_at_start:
            # the breaker was opened (by hand, or by protection) before the gateway started
            self.state.device(BREAKER).set("closed", False)
        await super()._start()


def run_islanding(folder: Path, scenario: Scenario, *, duration: timedelta, speed: float,
                  replace: dict[str, str] | None = None,
                  breaker_open_at_start: bool = False) -> Run:
    """The scenario through the demo path; returns the run's records.

    The gateway stops at the last market boundary (5 minutes) up to ``duration``: choose
    it so that the scenario's start plus ``duration`` falls on one."""
    site = load_site(private_demo_site(folder, replace=replace).path)
    seen: dict[str, Any] = {}

    class Rig(_RecordingRig):
        open_breaker_at_start = breaker_open_at_start

    def after_stop(rig: BuildingRig, gateway: Gateway) -> None:
        seen["rig"], seen["gateway"] = rig, gateway
        breaker = next(d for d in site.config.devices if d.id == BREAKER)
        pins: dict[str, int] = breaker.connection.pins  # type: ignore[union-attr]
        seen["pins"] = {point: bool(rig.pin_factory.pin(pin).state)
                        for point, pin in pins.items()}

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(demo, "BuildingRig", Rig)
        summary = asyncio.run(demo.run_demo(site, scenario, speed=speed, duration=duration,
                                            seed=None, emit=lambda line: None,
                                            after_stop=after_stop))
    rig: _RecordingRig = seen["rig"]
    end = rig.timeline.start + duration
    assert end.minute % 5 == 0 and end.second == 0, "the run must end on a market boundary"
    return Run(site=site, rig=rig, gateway=seen["gateway"], summary=summary,
               until_s=duration.total_seconds(),
               breaker_writes=rig.writes, grid=rig.grid_samples,
               ledger=list(_islanding_entries(site)), pins=seen["pins"])


def _islanding_entries(site: Site) -> Iterator[Entry]:
    conn: sqlite3.Connection = open_reader(site_path(site, site.config.storage.database))
    try:
        yield from events(conn, None, None, [EntryKind.ISLANDING_EVENT, EntryKind.ALARM])
    finally:
        conn.close()

