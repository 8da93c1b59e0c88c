"""The simulated BACnet device keeps the DeviceState and the priority array consistent."""

from __future__ import annotations

import pytest
from bacnet_rig import Rig

from drivers.base import Quality

pytestmark = pytest.mark.timeout(30)


async def test_local_changes_move_the_default_and_commands_still_win(rig: Rig) -> None:
    server = await rig.device()
    driver = rig.driver(server, cov=False)
    await driver.start()
    await driver.write("setpoint_c", 19.5)

    server.state.set("setpoint_c", 23.0)  # a local change at the controller's panel
    server.sync()

    assert server.device.value("setpoint_c") == 19.5  # our slot 12 still commands
    assert server.state["setpoint_c"] == 19.5  # the state shows the effective value

    await driver.relinquish("setpoint_c")

    assert server.state["setpoint_c"] == 23.0  # the panel's value once we let go


async def test_measurements_are_published_on_every_request(rig: Rig) -> None:
    server = await rig.device()
    driver = rig.driver(server, cov=False)
    await driver.start()

    server.state.set("power_kw", 12.75)
    server.state.set("fan_status", False)
    readings = await driver.poll()

    assert readings["power_kw"].value == 12.75
    assert readings["fan_status"].value is False
    assert all(r.quality is Quality.GOOD for r in readings.values())
