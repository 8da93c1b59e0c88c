"""The gateway as one appliance: a lifespan that starts the parts in order and stops them
in reverse, and the control loop that runs the market on its cadence.

Start: drivers and poller (wait until every device has answered once or timed out) while
the ledger opens in a thread (keys) → restore the book from the ledger → device services →
islanding controller → trader → first market round committed → READY=1. Stop
(SIGTERM/SIGINT, or the end of a demo): stop tendering, every driver reverts its commands
(BACnet priorities relinquished, setpoints to their safe values; SunSpec reversion timers
are the backstop) — the PCC breaker is left as it is — the ledger is flushed and closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sized
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from drivers.base import Reading
from drivers.bounded import cancel_and_wait
from drivers.clock import Clock
from drivers.factory import build_driver
from drivers.poller import Poller, PollSettings
from gateway.config.loader import Site
from gateway.islanding.controller import IslandingController
from gateway.islanding.messages import Event, RaiseAlarm, State, Transition
from gateway.islanding.service import IslandingService
from gateway.ledger.entries import EntryKind, NewEntry
from gateway.ledger.store import Ledger
from gateway.runtime.agents import build_agent
from gateway.runtime.islanding_io import SiteCommands, SiteInputs, SiteRoles
from gateway.runtime.operator import MarketOperator, RoundReport
from gateway.runtime.services import DeviceService
from gateway.runtime.tariff import TariffSide
from gateway.systemd import SystemdNotifier
from market.agents import PriceBand
from market.cts import decode_transaction
from market.horizon import HorizonTier, Micromarket
from market.settlement import Settlement
from market.temix import Interval

if TYPE_CHECKING:
    from gateway.runtime.trader import Trader

log = logging.getLogger(__name__)

ROUND_LEAD_S = 30.0
MAX_REAL_SLICE_S = 0.05
REVERT_TIMEOUT_S = 10.0  # real seconds one device may take to relinquish/revert on stop
TASK_STOP_TIMEOUT_S = 10.0  # real seconds a cancelled control task may take to end


def site_path(site: Site, value: str) -> Path:
    """A path from the site file: relative paths are relative to the site file."""
    path = Path(value)
    return path if path.is_absolute() else (site.path.parent / path).resolve()


class LedgerWriter:
    """Group commits from the event loop: each round runs in a worker thread."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    async def commit(self, entries: Iterable[NewEntry], at: datetime) -> list[int]:
        """Append a round; ``entries`` may be a generator, encoded in the worker thread."""
        if isinstance(entries, Sized) and not entries:
            return []
        return await asyncio.to_thread(self.ledger.append_round, entries, at=at)


@dataclass
class GatewayStatus:
    """What the service reports: for the demo's progress line and the day summary."""

    rounds: list[RoundReport] = field(default_factory=list)
    settlements: list[Settlement] = field(default_factory=list)
    alarms: list[RaiseAlarm] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)
    ready: bool = False
    start_timings_s: dict[str, float] = field(default_factory=dict)  # real s per start part


class Gateway:
    """``async with Gateway(site, clock) as gw: await gw.run(until=...)``."""

    def __init__(
        self,
        site: Site,
        clock: Clock,
        *,
        driver_options: Mapping[str, Mapping[str, Any]] | None = None,
        notifier: SystemdNotifier | None = None,
        on_round: Callable[[RoundReport], None] | None = None,
        on_grid_state: Callable[[State], None] | None = None,
        on_breaker_operation: Callable[[], None] | None = None,
        min_real_poll_s: float = 0.0,
    ) -> None:
        """``min_real_poll_s``: shortest time between two polls of a device in real seconds
        (with an accelerated clock, a poll interval in clock seconds would be a busy loop)."""
        self.site = site
        self.config = site.config
        self.clock = clock
        self.driver_options = driver_options or {}
        self.notifier = notifier or SystemdNotifier()
        self.on_round = on_round
        self.on_grid_state = on_grid_state
        self.on_breaker_operation = on_breaker_operation
        self.min_real_poll_s = min_real_poll_s
        self.zone = ZoneInfo(self.config.site.timezone)
        self.status = GatewayStatus()
        self.party = (self.config.external_market.party_id if self.config.external_market
                      else f"{self.config.site.name}".lower().replace(" ", "-"))
        self.poller = Poller(clock, min_real_interval_s=min_real_poll_s)
        self.services: dict[str, DeviceService] = {}
        self._stack = contextlib.AsyncExitStack()
        self._tasks: list[asyncio.Task[None]] = []
        self.ledger: Ledger | None = None
        self.trader: Trader | None = None
        self.tariff: TariffSide | None = None
        self.operator: MarketOperator | None = None
        self.islanding: IslandingService | None = None
        self.roles = SiteRoles.of(site)
        self._commands: SiteCommands | None = None
        self._round_real_s = 0.0  # recent rounds' wall time (decays), for the lead
        self._side_tasks: set[asyncio.Task[None]] = set()
        self._faulted: set[str] = set()  # devices with an ALARM entry not yet cleared

    @property
    def outside(self) -> Trader | TariffSide | None:
        """Whom the building buys from outside: the TeMIX counterparty or the tariff."""
        return self.trader if self.trader is not None else self.tariff

    # -- lifespan --------------------------------------------------------------------------

    async def __aenter__(self) -> Gateway:
        try:
            await self._start()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.notifier.stopping()
        failures = await cancel_and_wait({t.get_name(): t for t in self._tasks},
                                         TASK_STOP_TIMEOUT_S)
        await self._stack.aclose()
        if failures:
            raise failures[0]

    async def _start(self) -> None:
        now = self.clock.now()
        timings = self.status.start_timings_s
        began = time.perf_counter()
        storage = self.config.storage
        state_dir = site_path(self.site, storage.state_directory)
        state_dir.mkdir(parents=True, exist_ok=True)
        band = PriceBand(self.config.market.price_floor_per_kwh,
                         self.config.market.price_cap_per_kwh)
        for device in self.config.devices:
            self.services[device.id] = DeviceService(
                device, build_agent(device, band), self.poller,
                self.config.site.nominal_voltage_v, self.zone)
        parties = [self.party, *[s.party for s in self.services.values() if s.trades]]

        def open_ledger() -> Ledger:
            opened = time.perf_counter()
            ledger = Ledger.open(site_path(self.site, storage.database), state_dir, parties,
                                 at=now)
            timings["ledger_open"] = time.perf_counter() - opened
            return ledger

        # The ledger opens (keys made or loaded: file I/O in a thread) while the drivers are
        # built and the devices polled the first time; neither needs the other.
        opening = asyncio.get_running_loop().run_in_executor(None, open_ledger)
        self._stack.push_async_callback(_close_when_opened, opening)
        for device in self.config.devices:
            driver = build_driver(device.id, device.connection, self.site.profiles[device.id],
                                  self.clock, **self._options_for(device.connection.kind))
            self.poller.add(driver, PollSettings(interval_s=device.poll_interval_s,
                                                 timeout_s=max(2.0, device.poll_interval_s)))
        timings["drivers"] = time.perf_counter() - began
        polled = time.perf_counter()
        await self.poller.start()
        self._stack.push_async_callback(self._stop_devices)
        await self._first_poll()
        timings["first_poll"] = time.perf_counter() - polled
        ledger = self.ledger = await opening
        writer = LedgerWriter(ledger)
        if self.config.external_market is not None:
            # imported only here: its HTTP client (aiohttp, ~23 MB resident) serves the
            # external market alone
            from gateway.runtime.trader import Trader

            self.trader = Trader(self.config.external_market, self.config.market, self.clock,
                                 self.config.site, writer)
            await self._stack.enter_async_context(self.trader)
        elif self.config.tariff is not None:
            self.tariff = TariffSide(self.config.tariff, self.party, self.config.market,
                                     self.config.site)
        else:
            log.warning("no external_market and no tariff: the market sees no supply from "
                        "the grid, and loads the building's own sources cannot supply are "
                        "shed in the market")
        market = Micromarket(
            tiers=[HorizonTier(t.interval, t.until) for t in self.config.market.horizon],
            zone=self.zone, operator=self.party, band=band)
        self.operator = MarketOperator(
            market=market, services=self.services, writer=writer, external=self.outside,
            pcc_import_limit_kw=self.config.site.pcc_import_limit_kw,
            pcc_export_limit_kw=self.config.site.pcc_export_limit_kw,
            settlement_duration=self.config.market.horizon[0].interval,
            market_id=self.config.market.market_id,
            # the next round covers the intervals after these in time, unless it is skipped
            island_cover_ahead=2 * self.config.market.clearing_cadence)
        await self._restore(ledger, now)
        self.poller.subscribe(self._on_readings)
        self._start_islanding(writer)

    def _options_for(self, kind: str) -> dict[str, Any]:
        options = dict(self.driver_options.get(kind, {}))
        if kind == "opcua":
            options.setdefault("base_dir", str(self.site.path.parent))
        if kind == "bacnet":
            bacnet = self.config.bacnet
            for key, value in (("local_address", bacnet.local_address), ("bbmd", bacnet.bbmd),
                               ("priority", bacnet.priority),
                               ("cov_lifetime_s", bacnet.cov_lifetime_s)):
                options.setdefault(key, value)
        if kind in ("modbus_tcp", "modbus_rtu"):
            # SunSpec reversion timers outlive two rounds: a setpoint reverts only when the
            # gateway stops refreshing it (a crash), never between rounds.
            cadence = self.config.market.clearing_cadence.total_seconds()
            options.setdefault("reversion_s", int(2 * cadence + 60))
        return options

    async def _restore(self, ledger: Ledger, now: datetime) -> None:
        """Continue from the ledger: transactions on intervals not yet over, and external
        orders sent before a crash whose answer never came."""
        assert self.operator is not None
        kinds = [EntryKind.TRANSACTION, EntryKind.ORDER, EntryKind.ALARM]
        entries = await asyncio.to_thread(ledger.events, now - timedelta(days=2),
                                          now + timedelta(days=2), kinds)
        restored = [decode_transaction(e.payload) for e in entries
                    if e.kind == EntryKind.TRANSACTION]
        live = [t for t in restored if t.interval.end > now]
        self.operator.restore(live)
        if self.trader is not None:
            from gateway.runtime.trader import recorded_orders

            orders, refused = recorded_orders(entries)
            self.trader.restore(live, [o for o in orders if o.transaction.interval.end > now],
                                refused)
        elif self.tariff is not None:
            self.tariff.restore_contracts(live)  # recorded with their rounds: no orders
        if live:
            log.info("restored %d transactions from the ledger", len(live))

    async def _first_poll(self) -> None:
        """Wait until every device answered once (or the first-poll timeout passed): the
        first cycle of each device's own poll loop, so no device is polled twice at start."""
        await self.poller.first_cycles()
        for fault in self.poller.faults():
            log.warning("device %s not answering at start: %s", fault.device_id, fault.message)

    def _on_readings(self, device_id: str, readings: dict[str, Reading]) -> None:
        assert self.operator is not None
        now = self.clock.now()
        service = self.services.get(device_id)
        if service is not None and service.trades:
            draw = service.draw_kw()
            self.operator.meter.sample(service.party, now, None if draw is None else -draw)
        if device_id == self.roles.grid_meter and self.outside is not None:
            power = readings.get("power_kw")
            value = power.value if power is not None and power.ok else None
            self.operator.meter.sample(self.outside.counterparty, now,
                                       float(value) if isinstance(value, int | float) else None)
        if self.islanding is not None:
            self.islanding.measurement_arrived()
            if device_id == self.roles.bus_meter and self._commands is not None \
                    and self._commands.pcc_target_kw is not None:
                task = asyncio.get_running_loop().create_task(self._commands.steer())
                self._side_tasks.add(task)
                task.add_done_callback(self._side_tasks.discard)

    def _start_islanding(self, writer: LedgerWriter) -> None:
        if self.roles.breaker is None or self.roles.grid_meter is None:
            log.warning("no PCC breaker or grid-side meter: islanding control is off")
            return
        source = SiteInputs(self.poller, self.roles, self.services,
                            self.config.site.nominal_voltage_v,
                            self.config.site.nominal_frequency_hz, self.clock)
        sink = SiteCommands(self.poller, self.roles, self.services, self._set_islanded,
                            self._recorder(writer), self.status.alarms, self.status.transitions,
                            before_breaker=self.on_breaker_operation)
        self._commands = sink
        controller = IslandingController(self.config.islanding.resolved())
        self.islanding = IslandingService(controller, self.clock, source, sink,
                                          min_real_period_s=self.min_real_poll_s)
        self._tasks.append(asyncio.create_task(self.islanding.run(), name="islanding"))
        self._tasks.append(asyncio.create_task(self._paired_pcc_polls(), name="pcc-pair"))
        if self.roles.grid_sense is not None:
            driver: Any = self.poller.driver(self.roles.grid_sense)
            if hasattr(driver, "subscribe"):
                driver.subscribe(self.islanding.grid_sense_changed, "grid_present")
        for device_id in (self.roles.breaker, self.roles.grid_sense):
            edges: Any = self.poller.driver(device_id) if device_id else None
            if edges is not None and hasattr(edges, "subscribe"):
                edges.subscribe(self._edge_seen(device_id))

    async def _paired_pcc_polls(self) -> None:
        """While synchronising, read both PCC meters together, so the sync-check compares
        the two sides at (nearly) the same instant rather than a poll interval apart."""
        meters = [m for m in (self.roles.grid_meter, self.roles.bus_meter) if m]
        while True:
            if self.grid_state is State.RESYNCHRONISING and len(meters) == 2:
                await asyncio.gather(*(self.poller.poll_now(m) for m in meters))
                if self.islanding is not None:
                    self.islanding.measurement_arrived()
            await asyncio.sleep(max(self.min_real_poll_s / 4, 0.01))

    def _edge_seen(self, device_id: str | None) -> Callable[[str, bool, float], None]:
        """A contact changed: read the device now, so the controller sees it at once."""
        def seen(point: str, level: bool, monotonic_s: float) -> None:
            if device_id is None:
                return
            task = asyncio.get_running_loop().create_task(self._poll_now(device_id))
            self._side_tasks.add(task)
            task.add_done_callback(self._side_tasks.discard)
        return seen

    async def _poll_now(self, device_id: str) -> None:
        await self.poller.poll_now(device_id)

    def _recorder(self, writer: LedgerWriter) -> Callable[[Event, datetime], Any]:
        async def record(event: Event, at: datetime) -> None:
            if isinstance(event, Transition) and self.on_grid_state is not None:
                self.on_grid_state(event.to_state)
            if isinstance(event, RaiseAlarm):
                entry = NewEntry(EntryKind.ALARM, self.party,
                                 {"code": str(event.code), "message": event.message})
            else:
                assert isinstance(event, Transition)
                entry = NewEntry(EntryKind.ISLANDING_EVENT, self.party, {
                    "from": str(event.from_state), "to": str(event.to_state),
                    "cause": event.cause,
                    "measurements": {k: v for k, v in event.measurements.items()}})
            await writer.commit([entry], at)
        return record

    def _set_islanded(self, islanded: bool) -> None:
        assert self.operator is not None
        self.operator.islanded = islanded

    async def _stop_devices(self) -> None:
        """Stop tendering; every driver reverts its commands; the breaker stays as it is."""
        for device_id, driver in self.poller.drivers.items():
            if device_id == self.roles.breaker:
                continue
            try:
                async with asyncio.timeout(REVERT_TIMEOUT_S):
                    await driver.revert()
            except Exception as err:  # one device must not keep the others from reverting
                log.error("device %s: could not return to safe values on stop: %r",
                          device_id, err)
        await self.poller.stop()

    # -- the control loop -----------------------------------------------------------------

    @property
    def grid_state(self) -> State:
        return self.islanding.controller.state if self.islanding else State.UNKNOWN

    async def run(self, until: datetime | None = None,
                  stop: asyncio.Event | None = None) -> None:
        """Clear ahead of every cadence boundary; at the boundary settle what ended and set
        the devices for what starts. Runs until ``until`` (clock time) or ``stop``."""
        assert self.operator is not None
        cadence = self.config.market.clearing_cadence
        finest = self.config.market.horizon[0].interval
        await self._round(self.clock.now())
        boundary = _next_boundary(self.clock.now() + self._lead(cadence), cadence)
        settled_until = _next_boundary(self.clock.now(), finest)
        while until is None or boundary <= until:
            lead = self._lead(cadence)
            if self.clock.now() >= boundary:
                behind = self.clock.now() - boundary
                log.warning("market loop is %.0f s behind the clock; skipping to the next "
                            "boundary", behind.total_seconds())
                boundary = _next_boundary(self.clock.now() + lead, cadence)
                continue
            if not await self._sleep_until(boundary - lead, stop):
                return
            await self._round(self.clock.now())
            if not await self._sleep_until(boundary, stop):
                return
            while settled_until + finest <= boundary:
                settled = Interval(settled_until, finest)
                self.status.settlements.append(
                    await self.operator.settle(settled, self.clock.now()))
                settled_until += finest
            for problem in await self.operator.apply(Interval(boundary, finest)):
                log.warning("setting devices at %s: %s", boundary.isoformat(), problem)
            boundary += cadence

    def _lead(self, cadence: timedelta) -> timedelta:
        """How long before a boundary its round starts: 30 s, or five times what recent
        rounds took (in clock time, so an accelerated clock gets a longer lead) — the
        round must be committed and squared outside before the counterparty's tenders for
        the interval expire at its start. At most half the cadence."""
        lead_s = max(ROUND_LEAD_S, 5 * self._round_real_s * max(self.clock.speed, 1.0))
        return min(timedelta(seconds=lead_s), cadence / 2)

    async def _round(self, now: datetime) -> None:
        assert self.operator is not None
        started = time.perf_counter()
        report = await self.operator.run_round(now)
        report.finished_at = self.clock.now()
        took = time.perf_counter() - started
        self._round_real_s = max(took, 0.7 * self._round_real_s + 0.3 * took)
        self.status.rounds.append(report)
        await self._device_alarms(now)
        for problem in report.problems:
            log.warning("round %s: %s", now.isoformat(), problem)
        if self.on_round is not None:
            self.on_round(report)
        if not self.status.ready:
            self.status.ready = True
            self.notifier.ready(f"{len(self.services)} devices polled, first round committed")
        if self._healthy():
            self.notifier.watchdog()

    async def _device_alarms(self, now: datetime) -> None:
        """A device that stops answering (or answers again) is written to the ledger as an
        ALARM entry, so the record shows why its agent stopped tendering."""
        assert self.ledger is not None
        faults = {f.device_id: f for f in self.poller.faults() if f.level.value == "error"}
        entries = []
        for device_id in sorted(faults.keys() - self._faulted):
            fault = faults[device_id]
            log.error("device %s is faulted (%s): %s", device_id, fault.code, fault.message)
            entries.append(NewEntry(EntryKind.ALARM, self.party, {
                "code": f"DEVICE-{fault.code.upper()}", "device": device_id,
                "message": fault.message}))
        for device_id in sorted(self._faulted - faults.keys()):
            log.warning("device %s answers again", device_id)
            entries.append(NewEntry(EntryKind.ALARM, self.party, {
                "code": "DEVICE-RECOVERED", "device": device_id,
                "message": f"{device_id} answers again; its agent trades again"}))
        self._faulted = set(faults)
        await LedgerWriter(self.ledger).commit(entries, now)

    async def _sleep_until(self, when: datetime, stop: asyncio.Event | None) -> bool:
        """Wait for ``when`` on the clock, feeding the watchdog; False when stopped.

        Waits in slices of at most MAX_REAL_SLICE_S real seconds, so a clock whose speed
        changes meanwhile (the demo slows down around grid events) is followed."""
        while True:
            delay = (when - self.clock.now()).total_seconds()
            if delay <= 0:
                return stop is None or not stop.is_set()
            speed = max(self.clock.speed, 1e-9)
            real = min(delay / speed, MAX_REAL_SLICE_S, self._watchdog_real_s())
            if stop is None:
                await asyncio.sleep(real)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), real)
                if stop.is_set():
                    return False
            if self._healthy():
                self.notifier.watchdog()

    def _watchdog_real_s(self) -> float:
        interval = self.notifier.watchdog_interval_s
        return interval if interval else 60.0

    def _healthy(self) -> bool:
        return all(not t.done() for t in self._tasks)


async def _close_when_opened(opening: asyncio.Future[Ledger]) -> None:
    """Close the ledger on stop; after a failed start, once its opening thread is done
    (an error of the opening itself was raised by the start)."""
    try:
        ledger = await opening
    except Exception:
        return
    ledger.close()


def _next_boundary(at: datetime, every: timedelta) -> datetime:
    epoch = datetime(2000, 1, 1, tzinfo=at.tzinfo)
    remainder = (at - epoch) % every
    return at if remainder == timedelta(0) else at + (every - remainder)

