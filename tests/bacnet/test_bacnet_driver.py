"""The BACnet driver against simulated devices on loopback: reads, commands, COV, faults."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from bacnet_rig import ZONE_VALUES, Rig, udp_port, variant, vav_profile

from drivers.bacnet.driver import BacnetDriver, check_priority
from drivers.base import DriverError, FaultLevel, Quality, Reading, WriteRejected
from drivers.clock import ManualClock
from hil.bacnet_server import BacnetDeviceServer
from hil.state import DeviceState

pytestmark = pytest.mark.timeout(30)


async def test_poll_reads_every_point_with_units_and_types(rig: Rig) -> None:
    server = await rig.device()
    driver = rig.driver(server)
    await driver.start()

    readings = await driver.poll()

    assert {name: r.value for name, r in readings.items()} == {
        "zone_temperature_c": 22.0, "setpoint_c": 22.5, "fan_status": True, "power_kw": 3.5}
    assert all(r.quality is Quality.GOOD for r in readings.values())
    assert driver.fault is None
    assert driver.identity is not None and driver.identity.read_multiple


async def test_device_limits_come_from_the_device_and_small_apdus_split_the_read(
        rig: Rig) -> None:
    server = await rig.device(max_apdu=50, segmentation="no-segmentation")
    driver = rig.driver(server, cov=False)
    await driver.start()

    before = server.device.requests["ReadPropertyMultipleRequest"]
    readings = await driver.poll()

    assert driver.identity is not None
    assert (driver.identity.max_apdu, driver.identity.segmentation) == (50, "no-segmentation")
    assert [r.value for r in readings.values()] == [22.0, 22.5, True, 3.5]
    assert server.device.requests["ReadPropertyMultipleRequest"] - before == 4  # 1 value each
    assert driver.fault is None


async def test_one_read_property_multiple_per_poll(rig: Rig) -> None:
    server = await rig.device()
    driver = rig.driver(server, cov=False)
    await driver.start()
    before = sum(server.device.requests.values())

    await driver.poll()
    await driver.poll()

    assert sum(server.device.requests.values()) - before == 2
    assert server.device.requests["ReadPropertyMultipleRequest"] >= 2


async def test_write_holds_our_priority_slot_and_stop_relinquishes_it(rig: Rig) -> None:
    server = await rig.device()
    driver = rig.driver(server)
    await driver.start()

    await driver.write("setpoint_c", 19.5)

    slots = server.device.priority_array("setpoint_c")
    assert slots[12 - 1] == 19.5
    assert [i + 1 for i, v in enumerate(slots) if v is not None] == [12]
    assert server.state["setpoint_c"] == 19.5  # the effective value reached the physics
    assert (await driver.poll())["setpoint_c"].value == 19.5

    await driver.stop()

    assert server.device.priority_array("setpoint_c") == [None] * 16
    assert server.state["setpoint_c"] == 22.5  # back to Relinquish_Default, never written
    await driver.stop()  # idempotent


async def test_relinquish_when_a_command_ends(rig: Rig) -> None:
    server = await rig.device(profile=None)
    lighting_like = await rig.device({"zone_temperature_c": 20.0, "setpoint_c": 21.0,
                                      "fan_status": False, "power_kw": 0.0}, instance=1002)
    driver = rig.driver(server)
    other = rig.driver(lighting_like)
    await driver.start()
    await other.start()
    await driver.write("setpoint_c", 24.0)
    await other.write("setpoint_c", 18.0)

    await driver.relinquish("setpoint_c")

    assert server.device.priority_array("setpoint_c")[11] is None
    assert server.state["setpoint_c"] == 22.5
    assert lighting_like.device.priority_array("setpoint_c")[11] == 18.0
    assert driver.commanded == {}


async def test_relinquish_when_the_contract_interval_ends(rig: Rig,
                                                          manual_clock: ManualClock) -> None:
    server = await rig.device()
    driver = rig.driver(server, clock=manual_clock)
    await driver.start()
    interval_end = manual_clock.now() + timedelta(minutes=5)
    await driver.write("setpoint_c", 20.0, until=interval_end)

    await manual_clock.advance(299)
    await driver.poll()
    assert server.device.priority_array("setpoint_c")[11] == 20.0

    await manual_clock.advance(1)
    await driver.poll()
    assert server.device.priority_array("setpoint_c")[11] is None
    assert server.state["setpoint_c"] == 22.5


async def test_configured_priority_is_the_slot_written(rig: Rig) -> None:
    server = await rig.device()
    driver = rig.driver(server, priority=10)
    await driver.start()

    await driver.write("setpoint_c", 21.0)

    slots = server.device.priority_array("setpoint_c")
    assert slots[9] == 21.0 and slots[11] is None


@pytest.mark.parametrize("priority", [1, 2, 5, 6])
def test_life_safety_and_critical_priorities_are_refused(priority: int) -> None:
    with pytest.raises(ValueError, match=f"priority {priority} .* is reserved"):
        check_priority(priority)


def test_default_priority_is_12() -> None:
    defaults = BacnetDriver.__init__.__kwdefaults__ or {}
    assert defaults["priority"] == 12


async def test_read_only_point_is_rejected_before_the_wire(rig: Rig) -> None:
    server = await rig.device()
    driver = rig.driver(server)
    await driver.start()

    with pytest.raises(WriteRejected, match="read-only"):
        await driver.write("zone_temperature_c", 30.0)
    with pytest.raises(WriteRejected, match="outside the allowed range"):
        await driver.write("setpoint_c", 40.0)


async def test_write_to_a_non_commandable_object_names_the_profile_fix(rig: Rig) -> None:
    server = await rig.device()
    wrong = variant(vav_profile(), zone_temperature_c={"access": "rw", "commandable": True})
    driver = rig.driver(server, profile=wrong)
    await driver.start()

    with pytest.raises(DriverError, match=r"write-access-denied.*commandable") as caught:
        await driver.write("zone_temperature_c", 25.0)

    assert caught.value.code == "write_refused"
    assert caught.value.point == "zone_temperature_c"
    assert server.state["zone_temperature_c"] == 22.0
    assert driver.commanded == {}


async def test_cov_notification_reaches_the_gateway(rig: Rig) -> None:
    server = await rig.device()
    driver = rig.driver(server)
    changes: asyncio.Queue[tuple[str, Reading]] = asyncio.Queue()
    driver.on_change(lambda point, reading: changes.put_nowait((point, reading)))
    await driver.start()
    assert driver.cov_points == {"zone_temperature_c", "setpoint_c", "fan_status", "power_kw"}

    server.state.set("zone_temperature_c", 24.25)

    async with asyncio.timeout(5):
        while True:
            point, reading = await changes.get()
            if point == "zone_temperature_c" and reading.value == 24.25:
                break
    assert (await driver.poll())["zone_temperature_c"].value == 24.25


async def test_cov_has_a_finite_lifetime_and_is_renewed_before_expiry(
        rig: Rig, manual_clock: ManualClock) -> None:
    server = await rig.device()
    driver = rig.driver(server, clock=manual_clock, cov_lifetime_s=120)
    await driver.start()
    assert server.device.cov_lifetimes == [120] * 4

    await manual_clock.advance(59)
    await driver.poll()
    assert len(server.device.cov_lifetimes) == 4

    await manual_clock.advance(1)
    await driver.poll()
    assert server.device.cov_lifetimes == [120] * 8


async def test_refused_cov_falls_back_to_polling(rig: Rig) -> None:
    server = await rig.device()
    server.device.refuse_cov = True
    driver = rig.driver(server)
    await driver.start()
    assert driver.cov_points == set()

    server.state.set("power_kw", 7.25)
    readings = await driver.poll()

    assert readings["power_kw"].value == 7.25
    assert driver.fault is None


async def test_device_absent_at_start_is_a_fault_then_recovers(rig: Rig) -> None:
    port = udp_port()
    driver = rig.driver(f"127.0.0.1:{port}", timeout_s=0.2)

    await driver.start()  # does not raise

    assert driver.fault is not None and driver.fault.code == "unreachable"
    assert driver.fault.level is FaultLevel.ERROR
    assert "127.0.0.1" in driver.fault.message and "0.2 s" in driver.fault.message
    assert all(r.quality is Quality.BAD for r in (await driver.poll()).values())

    await rig.device(port=port)
    readings = await driver.poll()

    assert readings["setpoint_c"].quality is Quality.GOOD
    assert driver.fault is None


async def test_device_gone_mid_run_reads_bad_then_recovers(rig: Rig) -> None:
    server = await rig.device()
    driver = rig.driver(server, timeout_s=0.2)
    await driver.start()
    assert (await driver.poll())["power_kw"].quality is Quality.GOOD

    server.state.available = False
    readings = await driver.poll()

    assert all(r.quality is Quality.BAD and r.value is None for r in readings.values())
    assert driver.fault is not None and driver.fault.code == "unreachable"

    server.state.available = True
    server.state.set("power_kw", 9.0)
    readings = await driver.poll()
    assert readings["power_kw"] == Reading(9.0, Quality.GOOD, readings["power_kw"].read_at)
    assert driver.fault is None


async def test_slow_device_within_the_timeout_is_fine_beyond_it_is_a_fault(rig: Rig) -> None:
    server = await rig.device()
    driver = rig.driver(server, timeout_s=0.3, cov=False)
    await driver.start()

    server.device.response_delay_s = 0.05
    assert (await driver.poll())["setpoint_c"].quality is Quality.GOOD

    server.device.response_delay_s = 0.6
    readings = await driver.poll()
    assert readings["setpoint_c"].quality is Quality.BAD
    assert driver.fault is not None and driver.fault.code == "unreachable"


async def test_unknown_object_is_a_bad_point_and_a_warning(rig: Rig) -> None:
    server = await rig.device()
    extra = {"name": "supply_air_c", "object": "analog-input,99", "type": "float"}
    driver = rig.driver(server, profile=variant(vav_profile(), __add__=extra))
    await driver.start()

    readings = await driver.poll()

    assert readings["supply_air_c"].quality is Quality.BAD
    assert readings["zone_temperature_c"].quality is Quality.GOOD
    assert driver.fault is not None and driver.fault.level is FaultLevel.WARNING
    assert "analog-input,99" in driver.fault.message and "unknown-object" in driver.fault.message


@pytest.mark.parametrize("answer", ["reject", "abort"])
async def test_reject_and_abort_answers_are_faults(rig: Rig, answer: str) -> None:
    server = await rig.device()
    driver = rig.driver(server, cov=False)
    await driver.start()

    server.device.answer_with = answer  # type: ignore[assignment]
    readings = await driver.poll()

    assert all(r.quality is Quality.BAD for r in readings.values())
    assert driver.fault is not None and driver.fault.code == answer
    with pytest.raises(DriverError):
        await driver.write("setpoint_c", 21.0)

    server.device.answer_with = None
    assert (await driver.poll())["setpoint_c"].quality is Quality.GOOD


async def test_wrong_device_instance_is_named(rig: Rig) -> None:
    server = await rig.device()
    address = server.device.address.replace("/8", "")
    driver = rig.driver(address, instance=4242)

    await driver.start()

    assert driver.fault is not None and driver.fault.code == "wrong_instance"
    assert "device_instance" in driver.fault.message


async def test_a_busy_local_port_is_refused(rig: Rig) -> None:
    server = await rig.device()
    driver = rig.driver(server, local_address=server.device.address)

    with pytest.raises(DriverError, match="already in use"):
        await driver.start()


async def test_a_restarted_device_is_caught_by_the_cov_audit_and_resubscribed(
        rig: Rig, manual_clock: ManualClock) -> None:
    port = udp_port()
    state = DeviceState("zone_1001", dict(ZONE_VALUES))
    first = BacnetDeviceServer(state, vav_profile(), instance=1001, address=f"127.0.0.1:{port}")
    await first.start()
    driver = rig.driver(f"127.0.0.1:{port}", clock=manual_clock, cov_audit_s=1.0)
    await driver.start()
    await driver.poll()  # the first poll reads every point (an audit)

    await first.stop()  # the controller reboots and forgets its subscriptions
    async with BacnetDeviceServer(state, vav_profile(), instance=1001,
                                  address=f"127.0.0.1:{port}") as second:
        state.set("power_kw", 8.0)
        await manual_clock.advance(0.5)
        assert (await driver.poll())["power_kw"].value == 3.5  # the last COV value

        await manual_clock.advance(0.5)
        assert (await driver.poll())["power_kw"].value == 8.0  # the audit read
        assert second.device.cov_lifetimes == []
        await driver.poll()
        assert len(second.device.cov_lifetimes) == 4  # subscribed again
        await driver.stop()
