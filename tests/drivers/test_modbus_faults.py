"""Faults of Modbus devices: each is logged once, reads BAD, leaves other devices alone,
and clears when the device comes back. Real servers on loopback throughout."""

from __future__ import annotations

import logging
import math

import pytest

from drivers.base import DriverError, FaultLevel, Quality
from drivers.clock import ManualClock
from drivers.factory import build_driver
from drivers.poller import Poller, PollSettings
from hil.modbus_server import ModbusTcpSimulator, ModbusUnit
from hil.state import DeviceState
from tests.drivers.conftest import modbus_profile, tcp

METER = "sunspec-meter-213"
EV = "modbus-ev-charger"


def _errors(caplog: pytest.LogCaptureFixture, device: str) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "drivers.base" and r.levelno >= logging.WARNING
            and f"device {device}:" in r.getMessage()]


def _recoveries(caplog: pytest.LogCaptureFixture, device: str) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "drivers.base" and "recovered" in r.getMessage()
            and f"device {device}:" in r.getMessage()]


async def test_device_down_at_start_then_comes_up(free_tcp_port: int, clock: ManualClock,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    profile = modbus_profile(METER)
    driver = build_driver("pcc_meter", tcp(free_tcp_port), profile, clock)
    await driver.start()  # never raises for a dead device
    for _ in range(3):
        readings = await driver.poll()
        assert {r.quality for r in readings.values()} == {Quality.BAD}
    assert driver.fault is not None and driver.fault.level is FaultLevel.ERROR
    assert driver.fault.code == "unreachable"
    assert len(_errors(caplog, "pcc_meter")) == 1
    state = DeviceState("pcc_meter", {"power_kw": 5.0})
    async with ModbusTcpSimulator({1: ModbusUnit(profile, state)}, port=free_tcp_port):
        readings = await driver.poll()
        assert readings["power_kw"].value == 5.0 and readings["power_kw"].ok
        assert driver.fault is None
        assert len(_recoveries(caplog, "pcc_meter")) == 1
        await driver.stop()


async def test_device_unplugged_mid_run_others_unaffected(clock: ManualClock,
                                                          caplog: pytest.LogCaptureFixture
                                                          ) -> None:
    caplog.set_level(logging.INFO)
    profile = modbus_profile(METER)
    grid = DeviceState("pcc_meter", {"power_kw": 10.0})
    bus = DeviceState("bus_meter", {"power_kw": 20.0})
    units = {1: ModbusUnit(profile, grid), 2: ModbusUnit(profile, bus)}
    async with ModbusTcpSimulator(units) as server:
        poller = Poller(clock)
        poller.add(build_driver("pcc_meter", tcp(server.port, 1, 0.2), profile, clock),
                   PollSettings(interval_s=1.0, retries=0))
        poller.add(build_driver("bus_meter", tcp(server.port, 2, 0.2), profile, clock),
                   PollSettings(interval_s=1.0, retries=0))
        await poller.poll_now("pcc_meter")
        await poller.poll_now("bus_meter")
        grid.available = False
        for _ in range(2):
            await poller.poll_now("pcc_meter")
            bus_reading = (await poller.poll_now("bus_meter"))["power_kw"]
            assert bus_reading.value == 20.0 and bus_reading.ok
        assert poller.reading("pcc_meter", "power_kw").quality is Quality.BAD
        fault = poller.fault("pcc_meter")
        assert fault is not None and fault.code == "timeout"
        assert poller.fault("bus_meter") is None
        assert len(_errors(caplog, "pcc_meter")) == 1
        grid.available = True
        assert (await poller.poll_now("pcc_meter"))["power_kw"].value == 10.0
        assert poller.fault("pcc_meter") is None
        assert len(_recoveries(caplog, "pcc_meter")) == 1
        await poller.stop()


async def test_device_slower_than_the_timeout(clock: ManualClock) -> None:
    profile = modbus_profile(EV)
    state = DeviceState("ev", {"power_kw": 7.0})
    unit = ModbusUnit(profile, state, delay_s=0.5)
    async with ModbusTcpSimulator({1: unit}) as server:
        driver = build_driver("ev", tcp(server.port, timeout_s=0.1), profile, clock)
        readings = await driver.poll()
        assert readings["power_kw"].quality is Quality.BAD
        assert driver.fault is not None and driver.fault.code == "timeout"
        unit.delay_s = 0.0
        assert (await driver.poll())["power_kw"].value == 7.0
        assert driver.fault is None
        await driver.stop()


@pytest.mark.parametrize(("code", "name"), [(2, "illegal data address"), (6, "device busy")])
async def test_exception_responses(code: int, name: str, clock: ManualClock,
                                   caplog: pytest.LogCaptureFixture) -> None:
    profile = modbus_profile(EV)
    unit = ModbusUnit(profile, DeviceState("ev", {"power_kw": 3.0}), exception=code)
    async with ModbusTcpSimulator({1: unit}) as server:
        driver = build_driver("ev", tcp(server.port), profile, clock)
        for _ in range(3):
            readings = await driver.poll()
        assert {r.quality for r in readings.values()} == {Quality.BAD}
        assert driver.fault is not None and driver.fault.code == f"exception_{code}"
        assert name in driver.fault.message
        assert len(_errors(caplog, "ev")) == 1
        with pytest.raises(DriverError) as caught:
            await driver.write("current_limit_a", 6)
        assert caught.value.code == f"exception_{code}" and caught.value.point == \
            "current_limit_a"
        unit.exception = None
        assert (await driver.poll())["power_kw"].value == 3.0
        assert driver.fault is None
        await driver.stop()


async def test_a_hole_in_the_map_spoils_only_its_points(clock: ManualClock) -> None:
    """A profile point the device lacks: exception 2 for the merged block, which is then
    read point by point; the hole reads BAD with a WARNING fault, the rest reads."""
    profile = modbus_profile(EV)
    device_profile = profile.model_copy(update={"points": [
        p for p in profile.points if p.name != "fallback_timeout_s"]})
    state = DeviceState("ev", {"power_kw": 3.0})
    async with ModbusTcpSimulator({1: ModbusUnit(device_profile, state)}) as server:
        driver = build_driver("ev", tcp(server.port), profile, clock)
        readings = await driver.poll()
        assert readings["power_kw"].value == 3.0
        assert readings["fallback_timeout_s"].quality is Quality.BAD
        assert driver.fault is not None and driver.fault.level is FaultLevel.WARNING
        assert driver.fault.code == "exception_2"
        readings = await driver.poll()  # the next plan leaves the hole out
        assert readings["session_energy_kwh"].quality is Quality.NO_VALUE
        assert readings["fallback_timeout_s"].quality is Quality.BAD
        assert "fallback_timeout_s" in driver.fault.message
        await driver.stop()


async def test_wrong_unit_id_is_silent_and_reads_bad(clock: ManualClock) -> None:
    profile = modbus_profile(METER)
    async with ModbusTcpSimulator({1: ModbusUnit(profile, DeviceState("m"))}) as server:
        driver = build_driver("m", tcp(server.port, unit=9, timeout_s=0.15), profile, clock)
        await driver.start()
        readings = await driver.poll()
        assert {r.quality for r in readings.values()} == {Quality.BAD}
        assert driver.fault is not None and driver.fault.code == "timeout"
        assert "unit id" in driver.fault.message
        await driver.stop()


async def test_garbage_values_become_no_value_never_numbers(clock: ManualClock) -> None:
    meter = modbus_profile(METER)
    submeter = modbus_profile("sunspec-meter-203")
    state213 = DeviceState("m213", {"power_kw": math.nan, "frequency_hz": 60.0})
    state203 = DeviceState("m203", {"power_kw": None, "voltage_a_v": 277.0, "v_sf": -32768})
    async with ModbusTcpSimulator({1: ModbusUnit(meter, state213),
                                   2: ModbusUnit(submeter, state203)}) as server:
        d213 = build_driver("m213", tcp(server.port, 1), meter, clock)
        d203 = build_driver("m203", tcp(server.port, 2), submeter, clock)
        r213 = await d213.poll()
        assert r213["power_kw"] == type(r213["power_kw"])(None, Quality.NO_VALUE, clock.now())
        assert r213["frequency_hz"].value == 60.0
        r203 = await d203.poll()
        assert r203["power_kw"].quality is Quality.NO_VALUE  # int16 0x8000
        assert r203["v_sf"].quality is Quality.NO_VALUE  # sunssf 0x8000
        assert r203["voltage_a_v"].quality is Quality.NO_VALUE  # its scale factor is missing
        assert d213.fault is None and d203.fault is None
        state213.set("power_kw", 12.0)
        assert (await d213.poll())["power_kw"].value == 12.0
        await d213.stop()
        await d203.stop()


async def test_sunspec_device_without_marker_is_a_fault(clock: ManualClock) -> None:
    ev = modbus_profile(EV)
    meter = modbus_profile(METER)
    async with ModbusTcpSimulator({1: ModbusUnit(ev, DeviceState("ev"))}) as server:
        driver = build_driver("m", tcp(server.port), meter, clock)
        await driver.start()
        assert driver.fault is not None and driver.fault.code == "not_sunspec"
        assert "SunS" in driver.fault.message
        await driver.stop()


async def test_server_gone_mid_run_then_back(clock: ManualClock,
                                             caplog: pytest.LogCaptureFixture) -> None:
    """The whole device (its TCP server) goes away and comes back on the same port: the
    driver builds a fresh connection and recovers."""
    caplog.set_level(logging.INFO)
    profile = modbus_profile(EV)
    state = DeviceState("ev", {"power_kw": 4.0})
    server = ModbusTcpSimulator({1: ModbusUnit(profile, state)})
    await server.start()
    driver = build_driver("ev", tcp(server.port), profile, clock)
    assert (await driver.poll())["power_kw"].value == 4.0
    await server.stop()
    for _ in range(3):
        assert (await driver.poll())["power_kw"].quality is Quality.BAD
    assert driver.fault is not None and driver.fault.code in ("unreachable", "timeout")
    assert len(_errors(caplog, "ev")) == 1
    async with ModbusTcpSimulator({1: ModbusUnit(profile, state)}, port=server.port):
        assert (await driver.poll())["power_kw"].value == 4.0
        assert driver.fault is None and len(_recoveries(caplog, "ev")) == 1
        await driver.stop()
