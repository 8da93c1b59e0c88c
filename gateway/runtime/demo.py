"""The demo: the simulated building and the gateway in one process, accelerated.

The rig (``hil``) serves every device of the demo site over its real protocol on loopback
and runs the scenario's physics; the gateway polls them, runs the micromarket, trades with
the simulated retail provider, rides through the outage, and writes its ledger. At the end
a day summary is printed and written as JSON next to the ledger.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from drivers.clock import ScaledClock
from gateway.config.loader import Site
from gateway.islanding.messages import State
from gateway.ledger import verify_ledger
from gateway.runtime.app import Gateway, site_path
from gateway.runtime.operator import RoundReport
from hil.rig import BuildingRig
from hil.scenario import Scenario

log = logging.getLogger(__name__)

MIN_REAL_POLL_S = 0.2  # no device is polled more often than this in real time
# While the islanding controller operates the breaker or synchronises, sub-second timings
# matter: the demo slows to these speeds, so breaker verification and the sync-check run on
# measurements taken milliseconds (not minutes) of simulated time apart.
SLOW_SPEEDS = {State.ISLANDING: 5.0, State.RECONNECTING: 5.0, State.RESYNCHRONISING: 20.0}
# From a breaker command until the controller has seen the breaker move, the demo runs in
# real time: the breaker is verified within 0.5 s of clock time and the island keeps
# slipping against the grid while the breaker closes, so a 100 ms stall of a busy box at
# 20x (2 s of clock) once closed the breaker out of sync and locked the controller out.
OPERATION_SPEED = 1.0
EVENT_SPEED = 10.0  # around the start of a scenario's grid event
EVENT_LEAD_S = 15.0
EVENT_TAIL_S = 5.0
FLAT_TARIFF_PER_KWH = Decimal("0.20")


@dataclass
class IslandRecord:
    """One outage as the gateway lived it (clock times)."""

    detected: str
    islanded: str | None = None
    reconnected: str | None = None


@dataclass
class DaySummary:
    site: str
    scenario: str
    seed: int
    simulated_start: str
    simulated_end: str
    wall_seconds: float
    rounds: int
    transactions: int
    energy_imported_kwh: float
    energy_exported_kwh: float
    cost: str
    baseline_cost: str
    flat_tariff_per_kwh: str
    outages_ridden_through: int
    islanding: list[IslandRecord]
    critical_load_served_pct: float | None
    alarms: list[str]
    ledger: str
    ledger_verified: bool
    ledger_entries: int
    money_conserved: bool
    out_of_sync_closures: int
    physics_events: list[str]
    price_min: str | None = None
    price_max: str | None = None
    problems: list[str] = field(default_factory=list)


class RigStartError(Exception):
    """The simulated building could not start (a port in use, most often)."""


class DemoMonitor:
    """Watches the building through the gateway's eyes while the day runs."""

    def __init__(self, gateway: Gateway, zone: ZoneInfo,
                 emit: Callable[[str], None]) -> None:
        self.gateway = gateway
        self.zone = zone
        self.emit = emit
        self.outages: list[IslandRecord] = []
        self._last_state = State.UNKNOWN
        self._last_hour: int | None = None
        self.external_mismatches = 0

    def on_round(self, report: RoundReport) -> None:
        local = report.now.astimezone(self.zone)
        if local.hour != self._last_hour:
            self._last_hour = local.hour
            self.emit(self.line(report))

    def line(self, report: RoundReport) -> str:
        gw = self.gateway
        soc = None
        if gw.roles.storage is not None:
            soc = gw.services[gw.roles.storage].value("soc_pct")
        local = report.now.astimezone(self.zone)
        soc_text = f"{soc:5.1f} %" if soc is not None else "  n/a"
        position = report.net_import_kw
        return (f"{local:%H:%M}  price {report.price:8.4f}/kWh  building "
                f"{'imports' if position >= 0 else 'exports'} {abs(position):6.1f} kW  "
                f"battery {soc_text}  grid {gw.grid_state.value}")

    def sample(self) -> None:
        """Follow grid state changes."""
        state = self.gateway.grid_state
        now = self.gateway.clock.now().astimezone(self.zone)
        if state != self._last_state:
            self._transition(state, now)
            self._last_state = state

    def _transition(self, state: State, now: datetime) -> None:
        stamp = f"{now:%H:%M:%S}"
        if state is State.ISLANDING or (state is State.ISLANDED and (
                not self.outages or self.outages[-1].reconnected is not None)):
            self.outages.append(IslandRecord(detected=stamp))
            self.emit(f"{stamp}  GRID LOST: opening the PCC breaker, islanding")
        if state is State.ISLANDED and self.outages:
            self.outages[-1].islanded = self.outages[-1].islanded or stamp
            self.emit(f"{stamp}  ISLANDED: battery grid-forming, non-critical loads shed")
        elif state is State.RESYNCHRONISING:
            self.emit(f"{stamp}  grid stable for the enter-service delay: synchronising")
        elif state is State.GRID_CONNECTED and self.outages and \
                self.outages[-1].reconnected is None:
            self.outages[-1].reconnected = stamp
            self.emit(f"{stamp}  RECONNECTED: breaker closed after sync-check")
        elif state is State.LOCKOUT:
            self.emit(f"{stamp}  LOCKOUT: islanding controller needs an operator")


async def run_demo(site: Site, scenario: Scenario, *, speed: float, duration: timedelta,
                   seed: int | None, emit: Callable[[str], None],
                   after_stop: Callable[[BuildingRig, Gateway], None] | None = None,
                   ) -> DaySummary:
    """Run the rig and the gateway together; return the day summary.

    ``after_stop`` is called once the gateway has stopped, while the simulated building
    still runs (tests look at what the gateway left behind on the devices)."""
    zone = ZoneInfo(site.config.site.timezone)
    start = scenario.start(zone)
    clock = ScaledClock(start, speed)
    clock.hold()  # simulated time waits while the rig and the gateway start
    database = site_path(site, site.config.storage.database)
    database.parent.mkdir(parents=True, exist_ok=True)
    for stale in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        stale.unlink(missing_ok=True)
    wall = time.monotonic()
    rig = BuildingRig(site, scenario, clock, seed)
    try:
        await rig.__aenter__()
    except (OSError, RuntimeError) as err:
        raise RigStartError(str(err)) from err
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_exit(rig)
        options = {
            "gpio": {"pin_factory": rig.pin_factory},
            # COV lifetimes are clock seconds: keep renewals rare at demo speeds.
            "bacnet": {"cov_lifetime_s": 6 * 3600, "cov_audit_s": 3600},
        }
        pacer = Pacer(clock, speed, start, [e.start_s for e in rig.timeline.grid])
        gateway = Gateway(site, clock, driver_options=options, min_real_poll_s=MIN_REAL_POLL_S,
                          on_grid_state=pacer.grid_state,
                          on_breaker_operation=pacer.breaker_operation)
        monitor = DemoMonitor(gateway, zone, emit)
        gateway.on_round = monitor.on_round
        emit(f"demo: {site.config.site.name}, scenario {rig.timeline.name!r} (seed "
             f"{rig.timeline.seed}) from {start:%Y-%m-%d %H:%M %Z}, {speed:g}x")
        async with gateway:
            clock.release()
            sampler = asyncio.create_task(_sample(monitor, pacer))
            try:
                await gateway.run(until=start + duration)
            finally:
                sampler.cancel()
                await asyncio.gather(sampler, return_exceptions=True)
        if after_stop is not None:
            after_stop(rig, gateway)
        summary = _summary(site, rig, gateway, monitor, start, clock.now(),
                           time.monotonic() - wall, database)
    path = database.with_suffix(".summary.json")
    path.write_text(json.dumps(asdict(summary), indent=2, default=str))
    emit(f"summary written to {path}")
    return summary


async def _sample(monitor: DemoMonitor, pacer: Pacer) -> None:
    """Follow the grid state and the critical loads; keep the pace."""
    while True:
        monitor.sample()
        pacer.update()
        await asyncio.sleep(0.002)


class Pacer:
    """Runs the demo fast, but slows it where sub-second timings matter: around each grid
    event of the scenario (so detection and tripping happen in real milliseconds of
    simulated time) and while the controller operates the breaker or synchronises."""

    def __init__(self, clock: ScaledClock, speed: float, start: datetime,
                 event_times_s: list[float]) -> None:
        self.clock = clock
        self.speed = speed
        self.start = start
        self.events = sorted(event_times_s)
        self.state = State.UNKNOWN
        self.operating = False

    def grid_state(self, state: State) -> None:
        self.state = state
        if state not in (State.ISLANDING, State.RECONNECTING):
            self.operating = False  # the breaker's move was seen (or given up on)
        self.update()

    def breaker_operation(self) -> None:
        """Called just before the breaker is operated (before the command goes out)."""
        self.operating = True
        self.update()

    def update(self) -> None:
        wanted = min(self.speed, SLOW_SPEEDS.get(self.state, self.speed))
        if self.operating:
            wanted = OPERATION_SPEED
        t = (self.clock.now() - self.start).total_seconds()
        if any(-EVENT_LEAD_S <= t - e <= EVENT_TAIL_S for e in self.events):
            wanted = min(wanted, EVENT_SPEED)
        if wanted != self.clock.speed:
            self.clock.set_speed(wanted)


def _summary(site: Site, rig: BuildingRig, gateway: Gateway, monitor: DemoMonitor,
             start: datetime, end: datetime, wall_s: float, database: Path) -> DaySummary:
    status = gateway.status
    external = gateway.outside.counterparty if gateway.outside else None
    imported = exported = Decimal(0)
    cost = Decimal(0)
    consumed = Decimal(0)
    conserved = True
    loads = {d.id for d in site.config.devices
             if d.nature in ("load", "hvac_zone", "lighting", "ev_charger")}
    for settlement in status.settlements:
        conserved = conserved and settlement.total == 0
        for party, statement in settlement.statements.items():
            if party == external:
                energy = statement.metered_kwh
                imported += max(energy, Decimal(0))
                exported += max(-energy, Decimal(0))
                cost += statement.total
            if party in loads:
                consumed += max(-statement.metered_kwh, Decimal(0))
    report = verify_ledger(database)
    prices = [r.price for r in status.rounds]
    ridden = sum(1 for o in monitor.outages if o.reconnected is not None)
    return DaySummary(
        site=site.config.site.name, scenario=rig.timeline.name, seed=rig.timeline.seed,
        simulated_start=start.isoformat(), simulated_end=end.isoformat(),
        wall_seconds=round(wall_s, 1), rounds=len(status.rounds),
        transactions=sum(r.transactions for r in status.rounds),
        energy_imported_kwh=round(float(imported), 1),
        energy_exported_kwh=round(float(exported), 1),
        cost=f"{cost:.2f}", baseline_cost=f"{consumed * FLAT_TARIFF_PER_KWH:.2f}",
        flat_tariff_per_kwh=str(FLAT_TARIFF_PER_KWH), outages_ridden_through=ridden,
        islanding=monitor.outages,
        critical_load_served_pct=_critical_served_pct(rig, gateway, start, end),
        alarms=[f"{a.code}: {a.message}" for a in status.alarms],
        ledger=str(database), ledger_verified=report.ok, ledger_entries=report.entries,
        money_conserved=conserved,
        out_of_sync_closures=rig.physics.out_of_sync_closures,
        physics_events=[f"{(start + timedelta(seconds=t)).astimezone(monitor.zone):%H:%M:%S} "
                        f"{text}" for t, text in rig.physics.log],
        price_min=f"{min(prices):.4f}" if prices else None,
        price_max=f"{max(prices):.4f}" if prices else None,
    )


def _critical_served_pct(rig: BuildingRig, gateway: Gateway, start: datetime,
                         end: datetime) -> float | None:
    """Share of the time off the grid during which the building's bus — and so every
    critical load, which is never shed — stayed energised (the simulated building's own
    record: from the grid's loss until the breaker is closed again)."""
    windows = []
    reconnections = [start + timedelta(seconds=t.at_s) for t in gateway.status.transitions
                     if t.to_state is State.GRID_CONNECTED]
    for event in rig.timeline.grid:
        if event.kind != "outage":
            continue
        lost = start + timedelta(seconds=event.start_s)
        back = next((at for at in reconnections if at > lost), end)
        windows.append((event.start_s, (back - start).total_seconds()))
    if not windows:
        return None
    dark_s = total_s = 0.0
    dark_since: float | None = None
    log = sorted(rig.physics.log)
    for low, high in windows:
        total_s += high - low
        for t, text in log:
            if text == "bus de-energized":
                dark_since = t
            elif text.startswith("bus energized") and dark_since is not None:
                dark_s += max(0.0, min(t, high) - max(dark_since, low))
                dark_since = None
        if dark_since is not None:
            dark_s += max(0.0, high - max(dark_since, low))
            dark_since = None
    return round(100.0 * (1.0 - dark_s / total_s), 2) if total_s else None


def format_summary(summary: DaySummary) -> list[str]:
    lines = [
        "",
        f"Day summary — {summary.site}, scenario {summary.scenario} (seed {summary.seed})",
        f"  simulated {summary.simulated_start} → {summary.simulated_end} in "
        f"{summary.wall_seconds} s wall time; {summary.rounds} market rounds, "
        f"{summary.transactions} transactions",
        f"  energy imported {summary.energy_imported_kwh} kWh, exported "
        f"{summary.energy_exported_kwh} kWh",
        f"  cost of energy from the grid {summary.cost} (flat tariff "
        f"{summary.flat_tariff_per_kwh}/kWh for the same loads: {summary.baseline_cost})",
        f"  clearing prices {summary.price_min} … {summary.price_max} per kWh",
        f"  outages ridden through: {summary.outages_ridden_through}"
        + (f"; critical loads served {summary.critical_load_served_pct} % of islanded time"
           if summary.critical_load_served_pct is not None else ""),
        f"  breaker closures out of synchronism: {summary.out_of_sync_closures}",
        f"  money conserved in every settlement: {'yes' if summary.money_conserved else 'NO'}",
        f"  ledger {summary.ledger}: {summary.ledger_entries} entries, "
        f"{'verified' if summary.ledger_verified else 'VERIFICATION FAILED'}",
    ]
    for alarm in summary.alarms:
        lines.append(f"  alarm {alarm}")
    return lines

