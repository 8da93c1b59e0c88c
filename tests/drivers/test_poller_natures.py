"""The poller (schedules, staleness, back-off, subscribers) and the natures over it,
against real simulators; the demo site's Modbus and GPIO devices started by the rig."""

from __future__ import annotations

import asyncio
from pathlib import Path

from drivers.base import Quality
from drivers.clock import ManualClock, RealClock
from drivers.factory import build_driver
from drivers.natures import (
    Breaker,
    EvCharger,
    GridMode,
    GridSense,
    Meter,
    Pv,
    Storage,
    build_nature,
)
from drivers.poller import Poller, PollSettings
from gateway.config.loader import load_site
from hil.modbus_server import ModbusTcpSimulator, ModbusUnit
from hil.site_devices import SiteDevices
from hil.state import BuildingState, DeviceState
from tests.drivers.conftest import modbus_profile, tcp


async def _next_poll(poller: Poller, device_id: str) -> None:
    done = asyncio.Event()
    unsubscribe = poller.subscribe(lambda d, r: done.set() if d == device_id else None)
    try:
        await asyncio.wait_for(done.wait(), 5)
    finally:
        unsubscribe()


async def test_poller_cycles_on_the_clock_and_marks_stale(clock: ManualClock) -> None:
    profile = modbus_profile("sunspec-meter-213")
    state = DeviceState("m", {"power_kw": 1.0})
    async with ModbusTcpSimulator({1: ModbusUnit(profile, state)}) as server:
        poller = Poller(clock)
        poller.add(build_driver("m", tcp(server.port), profile, clock), PollSettings(1.0))
        async with poller:
            await _next_poll(poller, "m")
            meter = build_nature("meter", poller.driver("m"), poller)
            assert isinstance(meter, Meter)
            assert meter.power_kw.value == 1.0 and meter.power_kw.ok
            state.set("power_kw", -2.5)  # exporting
            waiter = asyncio.create_task(_next_poll(poller, "m"))
            await asyncio.sleep(0)
            await clock.advance(1.0)
            await waiter
            assert meter.power_kw.value == -2.5
            await poller.stop()  # no more polls: 3.5 intervals later the value is STALE
            await clock.advance(3.5)
            assert meter.power_kw.quality is Quality.STALE
            assert meter.power_kw.value == -2.5  # visible, never silently fresh


async def test_dead_device_backs_off_without_stalling_others(free_tcp_port: int,
                                                             clock: ManualClock) -> None:
    profile = modbus_profile("modbus-ev-charger")
    async with ModbusTcpSimulator({1: ModbusUnit(profile, DeviceState("ok",
                                                                      {"power_kw": 2.0}))}) \
            as server:
        poller = Poller(clock)
        poller.add(build_driver("dead", tcp(free_tcp_port), profile, clock),
                   PollSettings(1.0, retries=1, backoff_max_s=8.0))
        poller.add(build_driver("alive", tcp(server.port), profile, clock), PollSettings(1.0))
        polls: dict[str, int] = {"dead": 0, "alive": 0}
        poller.subscribe(lambda device, readings: polls.__setitem__(device, polls[device] + 1))
        async with poller:
            await _next_poll(poller, "alive")
            for _ in range(20):
                waiter = asyncio.create_task(_next_poll(poller, "alive"))
                await asyncio.sleep(0)
                await clock.advance(1.0)
                await waiter
                if polls["alive"] >= 16:
                    break
            assert polls["alive"] >= 16
            assert 2 <= polls["dead"] <= 6  # 1, 2, 4, 8 s apart: back-off
            assert poller.reading("alive", "power_kw").ok
            assert poller.fault("dead") is not None and poller.fault("alive") is None
            assert [f.device_id for f in poller.faults()] == ["dead"]


async def test_natures_read_and_command_the_demo_site(repo_root: Path, tmp_path: Path
                                                      ) -> None:
    """Every Modbus/GPIO device of the demo site through the rig helper, the factory and
    the natures: signs and units as the natures document them."""
    clock = RealClock()
    site = load_site(repo_root / "config/examples/demo-site.yaml")
    building = BuildingState()
    building.device("pcc_meter").values.update(power_kw=120.0, frequency_hz=60.0)
    building.device("pv_inverter").values.update(power_kw=45.0, curtailment_limit_pct=100.0)
    building.device("ev_charger").values.update(plugged_in=1, power_kw=11.0,
                                                current_limit_a=16.0)
    async with SiteDevices(site, building, clock, tcp_port_zero=True, serial_dir=tmp_path,
                           operate_s=0.01) as rig:
        assert list(rig.serial_ports.values()) == [str(tmp_path / "rs485-ev")]
        poller = Poller(clock)
        for device in site.config.devices:
            connection = device.connection
            if connection.kind == "modbus_tcp":
                connection = connection.model_copy(update={
                    "port": rig.tcp_ports[(connection.host, connection.port)]})
            elif connection.kind == "modbus_rtu":
                connection = connection.model_copy(update={
                    "port": rig.serial_ports[connection.port]})
            elif connection.kind != "gpio":
                continue
            options = {"pin_factory": rig.pin_factory} if connection.kind == "gpio" else {}
            poller.add(build_driver(device.id, connection, site.profiles[device.id], clock,
                                    **options), PollSettings(0.05))
        natures = {d: build_nature(site.device(d).nature, poller.driver(d), poller)
                   for d in poller.drivers}
        async with poller:
            for device_id in natures:
                await _next_poll(poller, device_id)
            pcc, pv, ev = natures["pcc_meter"], natures["pv_inverter"], natures["ev_charger"]
            assert isinstance(pcc, Meter) and isinstance(pv, Pv) and isinstance(ev, EvCharger)
            assert pcc.power_kw.value == 120.0 and pcc.frequency_hz.value == 60.0
            assert pv.power_kw.value == 45.0
            assert ev.plugged_in.value is True and ev.current_limit_a.value == 16.0
            await pv.set_curtailment_limit_pct(30)
            assert building.device("pv_inverter")["curtailment_limit_pct"] == 30
            assert building.device("pv_inverter")["curtailment_enable"] == 1
            await ev.set_current_limit_a(8)
            assert building.device("ev_charger")["current_limit_a"] == 8

            breaker, sense = natures["pcc_breaker"], natures["grid_sense"]
            assert isinstance(breaker, Breaker) and isinstance(sense, GridSense)
            assert breaker.closed.value is True and sense.grid_present.value is True
            edges: asyncio.Queue[bool] = asyncio.Queue()
            sense.on_change(lambda point, present, at: edges.put_nowait(present))
            building.device("grid_sense").set("grid_present", False)
            assert await asyncio.wait_for(edges.get(), 2) is False
            status: asyncio.Queue[tuple[str, bool]] = asyncio.Queue()
            breaker.on_status_change(lambda point, level, at: status.put_nowait((point,
                                                                                 level)))
            await breaker.open()
            while await asyncio.wait_for(status.get(), 2) != ("status_52a", False):
                pass
            await _next_poll(poller, "pcc_breaker")
            assert breaker.closed.value is False and breaker.tripped.value is False
        # stop() reverted what we commanded: curtailment released, EV back to its default
        assert building.device("pv_inverter")["curtailment_limit_pct"] == 100
        assert building.device("ev_charger")["current_limit_a"] == 0


async def test_storage_nature_on_sunspec_storage(clock: ManualClock) -> None:
    profile = modbus_profile("sunspec-storage-802")
    state = DeviceState("bess", {"soc_pct": 64.0, "power_kw": 20.0, "der_mode": 0b10})
    async with ModbusTcpSimulator({1: ModbusUnit(profile, state)}) as server:
        poller = Poller(clock)
        poller.add(build_driver("bess", tcp(server.port), profile, clock))
        await poller.poll_now("bess")
        storage = build_nature("storage", poller.driver("bess"), poller)
        assert isinstance(storage, Storage)
        assert storage.soc_pct.value == 64.0 and storage.power_kw.value == 20.0
        assert storage.mode.value == GridMode.GRID_FORMING
        await storage.set_power_setpoint_kw(-15)
        assert (state["power_setpoint_kw"], state["power_setpoint_enable"],
                state["power_setpoint_mode"]) == (-15, 1, 1)
        await poller.stop()
