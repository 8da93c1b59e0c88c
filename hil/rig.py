"""The simulated building as one async context manager: physics, devices, market.

    async with BuildingRig(site, scenario, clock, seed) as rig:
        rig.state            # BuildingState: every device's points
        rig.physics          # BuildingPhysics: flows, log, models
        rig.counterparty_url # the simulated retail provider's CTS base URL (None: tariff)
        rig.pin_factory      # gpiozero MockFactory: give it to the gateway's GPIO drivers
        await rig.finished() # until the scenario ends

On entry it builds the physics, then starts every simulated device on the address the
site file gives — Modbus TCP servers, RTU lines (pty pairs), GPIO mock pins
(:class:`hil.site_devices.SiteDevices`), BACnet/IP devices
(:func:`hil.bacnet_server.serve_site_bacnet`), OPC UA servers
(:func:`hil.opcua_server.serve_site_opcua`) — and the counterparty at
``external_market.counterparty_url`` (a site buying at a tariff has none); when it
returns, all of them listen. The physics
then steps on the clock: ``step_s`` of clock time per step, catching up in a burst when
the event loop falls behind (a ScaledClock at high speed), so simulated time tracks the
clock. Exit stops the physics and every server, releasing every port.

GPIO mock pins only exist in this process: the ``demo`` command runs the gateway and the
rig in one process and passes ``rig.pin_factory`` to the gateway's GPIO drivers.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta
from types import TracebackType
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

from gpiozero.pins.mock import MockFactory

from drivers.clock import Clock
from gateway.config import Site
from hil.bacnet_server import BacnetDeviceServer, serve_site_bacnet
from hil.counterparty import PriceWindow, SimulatedCounterparty, Tier
from hil.opcua_server import serve_site_opcua
from hil.physics import BuildingPhysics, Timeline, build_physics
from hil.scenario import DEFAULT_SCENARIO, Scenario, load_scenario
from hil.site_devices import SiteDevices
from hil.state import BuildingState

MAX_CATCH_UP_STEPS = 1000  # steps in one burst before yielding to the servers


def counterparty_for_site(
    site: Site, timeline: Timeline, clock: Clock
) -> SimulatedCounterparty | None:
    """The simulated retail provider the site's ``external_market`` section points at;
    None for a site without one (it buys at its tariff, or not at all)."""
    config = site.config
    external = config.external_market
    if external is None:
        return None
    url = urlparse(external.counterparty_url)
    windows = tuple(
        PriceWindow(timeline.start + timedelta(seconds=spike.start_s),
                    timeline.start + timedelta(seconds=spike.end_s), spike.factor)
        for spike in timeline.price_spikes
    )
    return SimulatedCounterparty(
        clock,
        party_id=external.counterparty_id,
        market_id=f"urn:temix:{external.counterparty_id}",
        zone=config.site.timezone,
        horizon=tuple(Tier(tier.interval, tier.until) for tier in config.market.horizon),
        import_limit_kw=config.site.pcc_import_limit_kw,
        export_limit_kw=config.site.pcc_export_limit_kw,
        price_windows=windows,
        seed=timeline.seed,
        host=url.hostname or "127.0.0.1",
        port=url.port or 80,
        prefix=url.path or "/cts/v1",
    )


class BuildingRig:
    """Physics, simulated devices and the external market of one site, started together."""

    def __init__(
        self,
        site: Site,
        scenario: Scenario | Timeline | None,
        clock: Clock,
        seed: int | None = None,
        *,
        start: datetime | None = None,
        pin_factory: MockFactory | None = None,
    ) -> None:
        """``scenario`` None runs the shipped normal day; ``seed`` overrides the file's;
        ``start`` moves the run to another start time (clock times keep their meaning)."""
        self.site = site
        self.clock = clock
        zone = ZoneInfo(site.config.site.timezone)
        if isinstance(scenario, Timeline):
            self.timeline = scenario
        else:
            loaded = scenario if scenario is not None else load_scenario(DEFAULT_SCENARIO)
            self.timeline = loaded.timeline(zone, seed=seed, start=start)
        self.state = BuildingState()
        self.physics: BuildingPhysics = build_physics(site, self.timeline, self.state)
        self.pin_factory = pin_factory or MockFactory()
        self.counterparty = counterparty_for_site(site, self.timeline, clock)
        self.devices: SiteDevices | None = None
        self.bacnet_servers: list[BacnetDeviceServer] = []
        self._stack = contextlib.AsyncExitStack()
        self._task: asyncio.Task[None] | None = None
        self._origin: float | None = None  # clock time of physics time 0, once it runs

    @property
    def counterparty_url(self) -> str | None:
        return self.counterparty.url if self.counterparty is not None else None

    async def __aenter__(self) -> BuildingRig:
        try:
            await self._start()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def _start(self) -> None:
        stack = self._stack
        self.devices = await stack.enter_async_context(
            SiteDevices(self.site, self.state, self.clock, pin_factory=self.pin_factory,
                        before_read=self._catch_up)
        )
        self.bacnet_servers = await stack.enter_async_context(
            serve_site_bacnet(self.site, self.state, self.clock))
        await stack.enter_async_context(serve_site_opcua(self.site, self.state, self.clock))
        if self.counterparty is not None:
            await stack.enter_async_context(self.counterparty)
        self._origin = self.clock.monotonic() - self.physics.t
        self._task = asyncio.create_task(self._run_physics(), name="hil-physics")
        stack.push_async_callback(self._stop_physics)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stack.aclose()

    async def finished(self) -> None:
        """Wait until the scenario's last step (raises if the physics failed)."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def _stop_physics(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _run_physics(self) -> None:
        await run_on_clock(self.physics, self.clock, self._origin)

    def _catch_up(self) -> None:
        """Step the physics up to the clock before a meter answers. After the event loop
        was blocked, a request can be served before the physics loop runs again: the meter
        then answered with the building as it was before the stall, which a gateway reads
        as now (at 120x a 0.3 s stall put the island's phase angle 95° behind)."""
        if self._origin is not None and self._task is not None:
            catch_up(self.physics, self.clock, self._origin)
            self.physics.carry_phases(self.clock.monotonic() - self._origin)


def catch_up(physics: BuildingPhysics, clock: Clock, origin: float) -> int:
    """Step ``physics`` until its time is within one step of the clock (at most
    MAX_CATCH_UP_STEPS steps); ``origin`` is the clock time of physics time 0."""
    step = physics.step_s
    burst = 0
    while (
        not physics.finished
        and burst < MAX_CATCH_UP_STEPS
        and clock.monotonic() - origin >= physics.t + step - 1e-9
    ):
        physics.step()
        burst += 1
    return burst


async def run_on_clock(physics: BuildingPhysics, clock: Clock,
                       origin: float | None = None) -> None:
    """Step ``physics`` so that its time follows ``clock`` until the timeline ends.

    One step per ``step_s`` of clock time; when the loop falls behind (a fast ScaledClock,
    a busy event loop) it catches up in bursts of at most MAX_CATCH_UP_STEPS, yielding to
    the servers in between.
    """
    step = physics.step_s
    if origin is None:
        origin = clock.monotonic() - physics.t
    while not physics.finished:
        wait = origin + physics.t + step - clock.monotonic()
        if wait > 0:
            await clock.sleep(wait)
        if catch_up(physics, clock, origin) >= MAX_CATCH_UP_STEPS:
            await asyncio.sleep(0)
