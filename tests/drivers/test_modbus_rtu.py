"""Modbus RTU over a pty pair: several unit ids on one line, one lock; bad serial ports."""

from __future__ import annotations

import asyncio
from pathlib import Path

import serial

from drivers.base import Quality
from drivers.clock import ManualClock
from drivers.connection import ModbusRtuConnection
from drivers.factory import build_driver
from drivers.modbus.client import LinkRegistry
from drivers.modbus.driver import ModbusDriver
from hil.modbus_server import ModbusRtuSimulator, ModbusUnit
from hil.rtu import PtyPair
from hil.state import DeviceState
from tests.drivers.conftest import modbus_profile

EV = "modbus-ev-charger"


def rtu(port: str, unit: int, timeout_s: float = 0.3) -> ModbusRtuConnection:
    return ModbusRtuConnection(kind="modbus_rtu", port=port, baud=19200, parity="E", unit=unit,
                               timeout_s=timeout_s)


async def test_two_units_on_one_line_share_one_client(tmp_path: Path,
                                                      clock: ManualClock) -> None:
    profile = modbus_profile(EV)
    first = DeviceState("ev_1", {"plugged_in": 1, "power_kw": 11.04, "current_limit_a": 16.0})
    second = DeviceState("ev_2", {"plugged_in": 0, "power_kw": 0.0, "current_limit_a": 6.0})
    registry = LinkRegistry()
    async with PtyPair(link=tmp_path / "rs485") as line, ModbusRtuSimulator(
            {7: ModbusUnit(profile, first), 8: ModbusUnit(profile, second)},
            port=line.server_port):
        assert line.client_port == str(tmp_path / "rs485")
        one = build_driver("ev_1", rtu(line.client_port, 7), profile, clock, registry=registry)
        two = build_driver("ev_2", rtu(line.client_port, 8), profile, clock, registry=registry)
        assert isinstance(one, ModbusDriver) and isinstance(two, ModbusDriver)
        assert one._link is two._link  # one pymodbus serial client, one lock
        for _ in range(3):  # concurrent polls serialise on the line's lock
            r1, r2 = await asyncio.gather(one.poll(), two.poll())
            assert (r1["power_kw"].value, r2["power_kw"].value) == (11.04, 0.0)
            assert (r1["plugged_in"].value, r2["plugged_in"].value) == (1, 0)
        await two.write("current_limit_a", 12.5)
        assert second["current_limit_a"] == 12.5 and first["current_limit_a"] == 16.0
        second.available = False  # unit 8 unplugged: unit 7 keeps working on the same line
        r1, r2 = await asyncio.gather(one.poll(), two.poll())
        assert r1["power_kw"].ok and r2["power_kw"].quality is Quality.BAD
        assert two.fault is not None and two.fault.code == "timeout" and one.fault is None
        second.available = True
        assert (await two.poll())["power_kw"].ok
        await one.stop()
        await two.stop()
    assert not (tmp_path / "rs485").exists()


async def test_missing_serial_port_is_a_fault_not_a_crash(tmp_path: Path,
                                                          clock: ManualClock) -> None:
    driver = build_driver("ev", rtu(str(tmp_path / "ttyUSB9"), 7), modbus_profile(EV), clock,
                          registry=LinkRegistry())
    await driver.start()
    readings = await driver.poll()
    assert {r.quality for r in readings.values()} == {Quality.BAD}
    assert driver.fault is not None and driver.fault.code == "unreachable"
    assert "ttyUSB9" in driver.fault.message
    await driver.stop()


async def test_serial_port_taken_by_another_program(clock: ManualClock) -> None:
    async with PtyPair() as line:
        holder = serial.Serial(line.client_port, exclusive=True)
        try:
            driver = build_driver("ev", rtu(line.client_port, 7), modbus_profile(EV), clock,
                                  registry=LinkRegistry())
            readings = await driver.poll()
            assert {r.quality for r in readings.values()} == {Quality.BAD}
            assert driver.fault is not None and driver.fault.code == "unreachable"
        finally:
            holder.close()
        await driver.stop()
