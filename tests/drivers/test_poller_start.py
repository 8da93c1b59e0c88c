"""Starting many devices: the first poll cycle is waited for (each device polled once), and
many unit ids behind one Modbus TCP server all connect on their first attempt."""

from __future__ import annotations

import asyncio
import socket

import pytest

from drivers.base import Quality
from drivers.clock import ManualClock
from drivers.factory import build_driver
from drivers.modbus import client
from drivers.poller import Poller, PollSettings
from hil.modbus_server import ModbusTcpSimulator, ModbusUnit
from hil.state import DeviceState
from tests.drivers.conftest import modbus_profile, tcp

UNITS_ON_ONE_SERVER = 240  # more than a listen backlog of 100 can queue at once


async def test_first_cycles_waits_for_one_poll_of_every_device(free_tcp_port: int,
                                                               clock: ManualClock) -> None:
    profile = modbus_profile("modbus-ev-charger")
    units = {unit: ModbusUnit(profile, DeviceState(f"ev{unit}", {"power_kw": float(unit)}))
             for unit in (1, 2)}
    async with ModbusTcpSimulator(units) as server:
        poller = Poller(clock)
        with pytest.raises(RuntimeError, match="not started"):
            await poller.first_cycles()
        for unit in units:
            poller.add(build_driver(f"ev{unit}", tcp(server.port, unit), profile, clock),
                       PollSettings(1.0, retries=1))
        poller.add(build_driver("dead", tcp(free_tcp_port), profile, clock),
                   PollSettings(1.0, retries=1))
        polls: dict[str, int] = {}
        poller.subscribe(lambda device, readings: polls.__setitem__(
            device, polls.get(device, 0) + 1))
        async with poller:
            await poller.first_cycles()
            assert polls == {"ev1": 1, "ev2": 1, "dead": 1}  # no device polled twice
            assert poller.reading("ev1", "power_kw").value == 1.0
            assert poller.reading("ev2", "power_kw").value == 2.0
            assert poller.reading("dead", "power_kw").quality is Quality.BAD
            assert [f.device_id for f in poller.faults()] == ["dead"]


async def test_first_cycles_returns_when_the_poller_stops_first(clock: ManualClock) -> None:
    """A device that accepts the connection but never answers: stopping the poller during
    its first cycle ends the wait instead of leaving it hanging."""
    profile = modbus_profile("modbus-ev-charger")
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        poller = Poller(clock)
        poller.add(build_driver("silent", tcp(port, timeout_s=30.0), profile, clock),
                   PollSettings(1.0, timeout_s=30.0))
        await poller.start()
        waiting = asyncio.create_task(poller.first_cycles())
        await asyncio.sleep(0.05)
        assert not waiting.done()
        await poller.stop()
        await asyncio.wait_for(waiting, 5)


async def test_many_units_behind_one_server_connect_at_first_attempt(
        clock: ManualClock) -> None:
    profile = modbus_profile("sunspec-meter-203")
    units = {unit: ModbusUnit(profile, DeviceState(f"m{unit}", {"power_kw": 1.0}))
             for unit in range(1, UNITS_ON_ONE_SERVER + 1)}
    async with ModbusTcpSimulator(units) as server:
        poller = Poller(clock)
        for unit in units:
            poller.add(build_driver(f"m{unit}", tcp(server.port, unit, timeout_s=1.0),
                                    profile, clock), PollSettings(60.0, retries=0))
        async with poller:
            await poller.first_cycles()
            assert poller.faults() == []
            assert all(poller.reading(f"m{unit}", "power_kw").ok for unit in units)
            assert client.MAX_CONNECTS_IN_FLIGHT < UNITS_ON_ONE_SERVER
