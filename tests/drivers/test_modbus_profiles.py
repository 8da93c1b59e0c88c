"""A round trip per shipped Modbus profile through the real protocol on loopback.

Values the physics puts in the simulator's state come back through the driver with the
right units, scale and sign; the driver's writes arrive in the state. A mistake in a
word order, a scale or a SunSpec offset of a profile fails here.
"""

from __future__ import annotations

import pytest

from drivers.base import Quality, WriteRejected
from drivers.clock import ManualClock
from drivers.factory import build_driver
from drivers.modbus.driver import ModbusDriver
from drivers.profile import ModbusProfile
from hil.modbus_server import ModbusTcpSimulator, ModbusUnit
from hil.state import DeviceState
from tests.drivers.conftest import modbus_profile, tcp

ROUND_TRIPS = {
    "sunspec-meter-203": {
        "power_kw": -12.34, "voltage_a_v": 277.1, "voltage_b_v": 276.9, "voltage_c_v": 278.0,
        "frequency_hz": 59.98, "energy_import_kwh": 123456.0, "energy_export_kwh": 42.0},
    "sunspec-meter-213": {
        "power_kw": 87.5, "voltage_a_v": 277.25, "voltage_b_v": 276.5, "voltage_c_v": 278.0,
        "frequency_hz": 60.02, "energy_import_kwh": 1500.5, "energy_export_kwh": 20.25,
        "phase_angle_deg": -12.5},
    "sunspec-inverter-701-704": {
        "power_kw": 42.5, "voltage_v": 277.1, "frequency_hz": 60.01,
        "energy_injected_kwh": 98765.0, "curtailment_limit_pct": 80.0, "curtailment_enable": 1,
        "operating_state": 2, "inverter_state": 4, "anti_islanding_enable": 1},
    "sunspec-storage-802": {
        "soc_pct": 55.5, "soc_min_pct": 10.0, "soc_max_pct": 95.0, "power_kw": -30.0,
        "power_setpoint_kw": -30.0, "capacity_kwh": 200.0, "max_charge_kw": 75.0,
        "max_discharge_kw": 75.0, "charge_state": 4, "der_mode": 2},
    "modbus-ev-charger": {
        "plugged_in": 1, "power_kw": 11.04, "current_limit_a": 16.0,
        "session_energy_kwh": 7.25, "energy_needed_kwh": 30.0,
        "departure_epoch_s": 1_780_000_000, "fallback_timeout_s": 60},
}
WRITES = {
    "sunspec-meter-203": {},
    "sunspec-meter-213": {},
    "sunspec-inverter-701-704": {"curtailment_limit_pct": 35.5, "curtailment_enable": 1},
    "sunspec-storage-802": {"power_setpoint_kw": 42.5, "power_setpoint_enable": 1},
    "modbus-ev-charger": {"current_limit_a": 10.5, "fallback_timeout_s": 120},
}


@pytest.mark.parametrize("name", sorted(ROUND_TRIPS))
async def test_profile_round_trip(name: str, clock: ManualClock) -> None:
    profile = modbus_profile(name)
    state = DeviceState(name, dict(ROUND_TRIPS[name]))
    async with ModbusTcpSimulator({3: ModbusUnit(profile, state)}) as server:
        driver = build_driver(name, tcp(server.port, unit=3), profile, clock)
        await driver.start()
        readings = await driver.poll()
        assert driver.fault is None
        for point, expected in ROUND_TRIPS[name].items():
            reading = readings[point]
            assert reading.quality is Quality.GOOD, (point, reading)
            assert reading.value == pytest.approx(expected, abs=1e-6), point
            assert reading.read_at == clock.now()
        for point, value in WRITES[name].items():
            await driver.write(point, value)
            assert state[point] == pytest.approx(value)
        readings = await driver.poll()
        for point, value in WRITES[name].items():
            assert readings[point].value == pytest.approx(value)
        await driver.stop()


async def test_every_shipped_modbus_profile_has_a_round_trip(profiles_dir) -> None:  # type: ignore[no-untyped-def]
    shipped = {p.stem for p in profiles_dir.glob("*.yaml")
               if "protocol: modbus" in p.read_text()}
    assert shipped == set(ROUND_TRIPS)


async def test_sunspec_blocks_stay_few_and_within_limits(clock: ManualClock) -> None:
    profile = modbus_profile("sunspec-inverter-701-704")
    async with ModbusTcpSimulator({1: ModbusUnit(profile, DeviceState("pv"))}) as server:
        driver = build_driver("pv", tcp(server.port), profile, clock)
        assert isinstance(driver, ModbusDriver)
        await driver.poll()
        assert [b.count <= 125 for b in driver.blocks] == [True, True]
        await driver.stop()


async def test_curtailment_write_arms_the_704_reversion_timer(clock: ManualClock) -> None:
    profile = modbus_profile("sunspec-inverter-701-704")
    state = DeviceState("pv", {"curtailment_limit_pct": 100.0})
    async with ModbusTcpSimulator({1: ModbusUnit(profile, state)}) as server:
        driver = build_driver("pv", tcp(server.port), profile, clock)
        await driver.write("curtailment_limit_pct", 40)
        assert state["curtailment_reversion_s"] == 60
        assert state["curtailment_reversion_limit_pct"] == 100
        assert state["curtailment_reversion_enable"] == 0
        await driver.stop()  # revert: the limit goes back to its safe default
        assert state["curtailment_limit_pct"] == 100


async def test_storage_setpoint_arms_wset_reversion_with_configured_time(
        clock: ManualClock) -> None:
    profile = modbus_profile("sunspec-storage-802")
    state = DeviceState("bess", {"power_setpoint_kw": 0.0})
    async with ModbusTcpSimulator({1: ModbusUnit(profile, state)}) as server:
        driver = build_driver("bess", tcp(server.port), profile, clock, reversion_s=30)
        await driver.write("power_setpoint_kw", -20)
        assert state["setpoint_timeout_s"] == 30
        assert state["power_setpoint_reversion_kw"] == 0
        assert state["power_setpoint_kw"] == -20
        await driver.stop()


@pytest.mark.parametrize(("point", "value", "code"), [
    ("current_limit_a", 32.5, "out_of_range"),
    ("current_limit_a", -1, "out_of_range"),
    ("power_kw", 1.0, "read_only"),
    ("no_such_point", 1.0, "unknown_point"),
])
async def test_writes_are_range_checked_before_the_wire(point: str, value: float, code: str,
                                                        clock: ManualClock) -> None:
    profile = modbus_profile("modbus-ev-charger")
    state = DeviceState("ev", {"current_limit_a": 16.0})
    writes: list[str] = []
    state.on_client_write(lambda p, v: writes.append(p))
    async with ModbusTcpSimulator({1: ModbusUnit(profile, state)}) as server:
        driver = build_driver("ev", tcp(server.port), profile, clock)
        with pytest.raises(WriteRejected) as caught:
            await driver.write(point, value)
        assert caught.value.code == code
        assert "device ev" in str(caught.value) and point in str(caught.value)
        if code == "out_of_range":
            assert "0.0..32.0" in str(caught.value)
        assert writes == []
        await driver.stop()


def _every_type_profile() -> ModbusProfile:
    points = [
        {"name": "alarm_bits", "address": 0, "type": "bitfield32"},
        {"name": "power_kw", "address": 2, "type": "float32", "word_order": "little",
         "unit": "kW", "access": "rw", "minimum": -100, "maximum": 100},
        {"name": "energy_kwh", "address": 4, "type": "int64", "scale": 0.001, "unit": "kWh"},
        {"name": "counter_kwh", "address": 8, "type": "acc64", "scale": 0.1},
        {"name": "setpoint_kw", "address": 12, "type": "int32", "word_order": "little",
         "scale": 0.01, "access": "rw", "minimum": -50, "maximum": 50},
        {"name": "frequency_hz", "address": 14, "type": "float64"},
        {"name": "model_name", "address": 18, "type": "string", "length": 4},
        {"name": "voltage_v", "address": 0, "table": "input", "type": "uint16", "scale": 0.1},
        {"name": "temperature_c", "address": 1, "table": "input", "type": "int16",
         "scale": 0.1},
        {"name": "run", "address": 0, "table": "coil", "type": "bool", "access": "rw"},
        {"name": "door_open", "address": 3, "table": "discrete", "type": "bool"},
    ]
    return ModbusProfile.model_validate({"name": "every-type", "description": "test",
                                         "nature": "load", "protocol": "modbus",
                                         "points": points})


async def test_every_table_type_and_word_order_round_trips(clock: ManualClock) -> None:
    profile = _every_type_profile()
    values = {"alarm_bits": 0x80000001, "power_kw": -12.5, "energy_kwh": 123456789.012,
              "counter_kwh": 42.5, "setpoint_kw": -7.25, "frequency_hz": 59.999,
              "model_name": "HX-9", "voltage_v": 230.4, "temperature_c": -5.5, "run": True,
              "door_open": True}
    state = DeviceState("plain", dict(values))
    async with ModbusTcpSimulator({1: ModbusUnit(profile, state)}) as server:
        driver = build_driver("plain", tcp(server.port), profile, clock)
        assert isinstance(driver, ModbusDriver)
        readings = await driver.poll()
        assert {b.table for b in driver.blocks} == {"holding", "input", "coil", "discrete"}
        for point, expected in values.items():
            assert readings[point].value == pytest.approx(expected), point
        await driver.write("setpoint_kw", 12.34)
        await driver.write("power_kw", 99.5)
        await driver.write("run", False)
        assert (state["setpoint_kw"], state["power_kw"], state["run"]) == (12.34, 99.5, False)
        with pytest.raises(WriteRejected):
            await driver.write("door_open", False)
        await driver.stop()
