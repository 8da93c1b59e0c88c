"""GPIO through gpiozero's MockFactory: the PCC breaker against its simulated mechanism,
grid sense with our debounce and the edge fast path, pin faults, pin factory choice."""

from __future__ import annotations

import asyncio

import pytest
from gpiozero import DigitalOutputDevice
from gpiozero.pins.mock import MockFactory

from drivers.base import Quality, WriteRejected
from drivers.clock import RealClock
from drivers.connection import GpioConnection
from drivers.factory import build_driver
from drivers.gpio.driver import GpioDriver
from drivers.profile import GpioProfile
from hil.gpio_sim import GpioSimulator
from hil.state import DeviceState
from tests.drivers.conftest import profile

BREAKER_PINS = {"trip": 17, "close": 27, "status_52a": 22, "status_52b": 23, "backup_trip": 24}
GRID_PINS = {"grid_present": 25}


def _gpio(pins: dict[str, int]) -> GpioConnection:
    return GpioConnection(kind="gpio", pins=pins)


async def _until(condition: object, edges: asyncio.Queue[tuple[str, bool]]) -> None:
    """Wait for edges until ``condition()`` holds (edges are how the gateway learns)."""
    while not condition():  # type: ignore[operator]
        await asyncio.wait_for(edges.get(), 2)


async def test_breaker_opens_and_closes_with_status_feedback(mock_pins: MockFactory) -> None:
    clock = RealClock()
    state = DeviceState("pcc_breaker", {"closed": True})
    breaker = profile("gpio-pcc-breaker")
    async with GpioSimulator(breaker, state, BREAKER_PINS, mock_pins, clock, operate_s=0.02):
        driver = build_driver("pcc_breaker", _gpio(BREAKER_PINS), breaker, clock)
        assert isinstance(driver, GpioDriver)
        await driver.start()
        edges: asyncio.Queue[tuple[str, bool]] = asyncio.Queue()
        driver.subscribe(lambda point, level, at: edges.put_nowait((point, level)))
        readings = await driver.poll()
        assert (readings["status_52a"].value, readings["status_52b"].value) == (True, False)

        await driver.write("trip", True)
        assert state["trip"] is True and driver.pulse_active("trip")
        await _until(lambda: state["closed"] is False, edges)
        await _until(lambda: not driver._levels["status_52a"], edges)
        readings = await driver.poll()
        assert readings["status_52a"].value is False and readings["status_52b"].value is True

        await driver.write("close", True)
        await _until(lambda: driver._levels["status_52a"], edges)
        assert state["closed"] is True
        await driver.stop()
        assert state["trip"] is False  # the pulse ended (or was ended by stop)


async def test_breaker_that_fails_to_open_keeps_its_contacts(mock_pins: MockFactory) -> None:
    clock = RealClock()
    state = DeviceState("pcc_breaker", {"closed": True, "fails_to_open": True})
    breaker = profile("gpio-pcc-breaker")
    async with GpioSimulator(breaker, state, BREAKER_PINS, mock_pins, clock, operate_s=0.01):
        driver = build_driver("pcc_breaker", _gpio(BREAKER_PINS), breaker, clock)
        await driver.start()
        ended = asyncio.Event()
        state.on_client_write(lambda point, value: ended.set() if point == "trip" and
                              value is False else None)
        await driver.write("trip", True)
        await asyncio.wait_for(ended.wait(), 2)  # the 100 ms pulse is over
        readings = await driver.poll()
        assert readings["status_52a"].value is True and state["closed"] is True
        await driver.write("backup_trip", True)
        assert state["backup_trip"] is True
        await driver.stop()


async def test_grid_sense_edge_reaches_the_loop_debounced(mock_pins: MockFactory) -> None:
    clock = RealClock()
    state = DeviceState("grid_sense", {"grid_present": True})
    sense = profile("gpio-grid-sense")
    sim = GpioSimulator(sense, state, GRID_PINS, mock_pins, clock)
    driver = build_driver("grid_sense", _gpio(GRID_PINS), sense, clock)
    await driver.start()
    assert isinstance(driver, GpioDriver)
    edges: asyncio.Queue[tuple[str, bool]] = asyncio.Queue()
    driver.subscribe(lambda point, level, at: edges.put_nowait((point, level)), "grid_present")
    pin = sim.pin("grid_present")
    pin.drive_high()
    assert await asyncio.wait_for(edges.get(), 2) == ("grid_present", True)
    # a bounce shorter than debounce_ms (5 ms): low and back high at once -> no edge
    pin.drive_low()
    pin.drive_high()
    pin.drive_low()  # a real loss of grid: stays low
    assert await asyncio.wait_for(edges.get(), 2) == ("grid_present", False)
    assert edges.empty()
    assert (await driver.poll())["grid_present"].value is False
    async with sim:  # the simulator drives the pin from the state
        state.set("grid_present", True)
        assert await asyncio.wait_for(edges.get(), 2) == ("grid_present", True)
    await driver.stop()


async def test_input_cannot_be_written_and_pin_in_use_is_a_fault(mock_pins: MockFactory
                                                                 ) -> None:
    clock = RealClock()
    sense = profile("gpio-grid-sense")
    driver = build_driver("grid_sense", _gpio(GRID_PINS), sense, clock)
    await driver.start()
    with pytest.raises(WriteRejected):
        await driver.write("grid_present", True)
    await driver.stop()

    squatter = DigitalOutputDevice(25)
    try:
        blocked = build_driver("grid_sense", _gpio(GRID_PINS), sense, clock)
        await blocked.start()
        assert blocked.fault is not None and blocked.fault.code == "gpio_unavailable"
        assert {r.quality for r in (await blocked.poll()).values()} == {Quality.BAD}
        await blocked.stop()
    finally:
        squatter.close()


async def test_pin_factory_by_name() -> None:
    clock = RealClock()
    sense = profile("gpio-grid-sense")
    driver = build_driver("grid_sense", _gpio(GRID_PINS), sense, clock, pin_factory="mock")
    await driver.start()
    assert driver.fault is None
    assert (await driver.poll())["grid_present"].quality is Quality.GOOD
    await driver.stop()


async def test_maintained_contactor_output_and_revert(mock_pins: MockFactory) -> None:
    """A load contactor: a maintained output (no pulse_ms) with a feedback contact; stop()
    returns the output to its safe default."""
    contactor = GpioProfile.model_validate({
        "name": "contactor", "description": "load contactor", "protocol": "gpio",
        "nature": "load", "points": [
            {"name": "on", "role": "coil", "direction": "output", "access": "rw",
             "safe_default": True},
            {"name": "closed", "role": "aux", "direction": "input", "debounce_ms": 0}]})
    pins = {"coil": 5, "aux": 6}
    state = DeviceState("contactor", {"closed": False})
    clock = RealClock()
    async with GpioSimulator(contactor, state, pins, mock_pins, clock) as sim:
        driver = build_driver("contactor", _gpio(pins), contactor, clock)
        await driver.start()
        await driver.write("on", True)
        assert state["on"] is True and sim.pin("on").state is True
        assert (await driver.poll())["on"].value is True
        await driver.write("on", False)
        assert state["on"] is False and (await driver.poll())["on"].value is False
        await driver.stop()
        assert state["on"] is True  # back to the profile's safe default


async def test_breaker_that_fails_to_close_stays_open(mock_pins: MockFactory) -> None:
    clock = RealClock()
    state = DeviceState("pcc_breaker", {"closed": False, "fails_to_close": True})
    breaker = profile("gpio-pcc-breaker")
    async with GpioSimulator(breaker, state, BREAKER_PINS, mock_pins, clock, operate_s=0.01):
        driver = build_driver("pcc_breaker", _gpio(BREAKER_PINS), breaker, clock)
        await driver.start()
        ended = asyncio.Event()
        state.on_client_write(lambda point, value: ended.set() if point == "close" and
                              value is False else None)
        await driver.write("close", True)
        await asyncio.wait_for(ended.wait(), 2)
        readings = await driver.poll()
        assert (readings["status_52a"].value, readings["status_52b"].value) == (False, True)
        assert state["closed"] is False
        await driver.stop()
