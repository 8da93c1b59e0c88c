"""The whole rig: in process (the demo's way) and as the ``hil`` command (clean shutdown)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from gpiozero import DigitalInputDevice, DigitalOutputDevice
from hil_kit import START
from sitekit import PrivateSite, port_is_free, private_demo_site

from drivers.clock import ScaledClock
from drivers.connection import ModbusTcpConnection
from drivers.factory import build_driver
from gateway.config import load_site
from hil.rig import BuildingRig
from hil.scenario import load_scenario
from market.cts import decode_tender

SHORT_SCENARIO = "name: short\nstart: '2026-06-22T12:00'\nduration: 10min\nseed: 4\n"


@pytest.fixture
def site(tmp_path: Path) -> PrivateSite:
    return private_demo_site(tmp_path)


async def test_rig_in_process_serves_devices_market_and_gpio_breaker(
    site: PrivateSite, tmp_path: Path
) -> None:
    scenario_file = tmp_path / "short.yaml"
    scenario_file.write_text(SHORT_SCENARIO, encoding="utf-8")
    clock = ScaledClock(START, 60.0)
    loaded = load_site(site.path)
    async with BuildingRig(loaded, load_scenario(scenario_file), clock, seed=9) as rig:
        assert rig.physics.timeline.seed == 9
        async with aiohttp.ClientSession() as http, http.get(
            f"{rig.counterparty_url}/tenders"
        ) as response:
            body = await response.json()
        assert response.status == 200
        assert decode_tender(body["tenders"][0]).party == "simulated-rep"
        # the gateway's side of the GPIO pins, on the rig's mock pin factory
        trip = DigitalOutputDevice(17, pin_factory=rig.pin_factory)
        status_52a = DigitalInputDevice(22, pull_up=None, active_state=True,
                                        pin_factory=rig.pin_factory)
        grid_present = DigitalInputDevice(25, pull_up=None, active_state=True,
                                          pin_factory=rig.pin_factory)
        try:
            assert status_52a.value == 1 and grid_present.value == 1
            steps = rig.physics.steps
            trip.on()
            trip.off()
            for _ in range(200):
                if not rig.physics.devices.breaker.closed and status_52a.value == 0:
                    break
                await asyncio.sleep(0.01)
            assert not rig.physics.devices.breaker.closed
            assert rig.state.device("pcc_breaker")["status_52b"] is True
            assert status_52a.value == 0
            assert rig.physics.steps > steps
        finally:
            for device in (trip, status_52a, grid_present):
                device.close()
    # name resolution and certificate loading ran in the loop's default executor
    await asyncio.get_running_loop().shutdown_default_executor()


async def test_a_meter_answers_with_the_building_as_it_is_after_a_stalled_event_loop(
    site: PrivateSite, tmp_path: Path
) -> None:
    """Every Modbus read first steps the physics up to the clock: a request served before
    the physics loop runs again (the event loop was blocked, e.g. by a long round) carried
    values from before the stall — at 120x a 0.3 s stall once put the island's phase
    angle 95° behind, and the breaker closed out of sync."""
    scenario_file = tmp_path / "short.yaml"
    scenario_file.write_text(SHORT_SCENARIO, encoding="utf-8")
    clock = ScaledClock(START, 120.0)
    loaded = load_site(site.path)
    async with BuildingRig(loaded, load_scenario(scenario_file), clock, seed=9) as rig:
        meter = next(d for d in loaded.config.devices if d.id == "pcc_meter")
        connection = meter.connection
        assert isinstance(connection, ModbusTcpConnection) and rig.devices is not None
        unit = rig.devices.tcp[(connection.host, connection.port)].units[connection.unit]
        catch_up = unit.before_read
        assert catch_up is not None
        answered: list[float] = []

        def before_read() -> None:
            catch_up()
            answered.append(rig.physics.t)

        unit.before_read = before_read
        driver = build_driver(meter.id, connection, loaded.profiles[meter.id], clock)
        await driver.start()
        try:
            await driver.poll()
            assert answered, "the server calls the hook before it answers"
            time.sleep(0.3)  # the event loop is blocked: 36 s of clock pass, no physics step
            lag_s = clock.monotonic() - rig.physics.t
            catch_up()
            assert clock.monotonic() - rig.physics.t < lag_s - 30
        finally:
            await driver.stop()
    await asyncio.get_running_loop().shutdown_default_executor()


async def test_hil_command_prints_ready_and_shuts_down_cleanly_on_sigterm(
    site: PrivateSite, tmp_path: Path
) -> None:
    scenario_file = tmp_path / "short.yaml"
    scenario_file.write_text(SHORT_SCENARIO.replace("10min", "24h"), encoding="utf-8")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.cli", "hil", "--config", str(site.path),
        "--scenario", str(scenario_file), "--start", "now", "--seed", "2",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None and process.stderr is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), timeout=45)
        assert line == b"ready\n", (line, await process.stderr.read())
        assert not port_is_free(site.tcp_ports[0], socket.SOCK_STREAM)
        # --start now at speed 1: the market trades on the real clock
        async with aiohttp.ClientSession() as http, http.get(
            f"http://127.0.0.1:{site.tcp_ports[5]}/cts/v1/tenders"
        ) as response:
            as_of = datetime.fromisoformat((await response.json())["asOf"])
        assert abs((as_of - datetime.now(UTC)).total_seconds()) < 30
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), timeout=20)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    errors = (await process.stderr.read()).decode()
    assert code == 0, errors
    assert "stopped at simulated" in errors
    for port in site.tcp_ports:
        assert port_is_free(port, socket.SOCK_STREAM), f"TCP port {port} still bound"
    for port in site.udp_ports:
        assert port_is_free(port, socket.SOCK_DGRAM), f"UDP port {port} still bound"


async def test_hil_command_ends_with_its_scenario(site: PrivateSite, tmp_path: Path) -> None:
    scenario_file = tmp_path / "short.yaml"
    scenario_file.write_text(SHORT_SCENARIO.replace("10min", "2min"), encoding="utf-8")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.cli", "hil", "--config", str(site.path),
        "--scenario", str(scenario_file), "--speed", "200",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout=50)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, err.decode()
    assert out == b"ready\n"
    assert "scenario ended" in err.decode()
    assert "after 120 steps" in err.decode()


def test_hil_command_reports_an_invalid_scenario(site: PrivateSite, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nevents:\n  - {at: '25:00', kind: outage, duration: 1h}\n",
                   encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "hil", "--config", str(site.path),
         "--scenario", str(bad)], capture_output=True, text=True, timeout=30, check=False,
    )
    assert result.returncode == 1
    assert f"{bad}:3:" in result.stderr and "events[0].at" in result.stderr


async def test_physics_reaches_the_wire_and_setpoints_come_back_through_modbus(
    site: PrivateSite, tmp_path: Path
) -> None:
    scenario_file = tmp_path / "noon.yaml"
    scenario_file.write_text(SHORT_SCENARIO, encoding="utf-8")  # 12:00, clear sky
    clock = ScaledClock(START.replace(hour=12), 20.0)
    loaded = load_site(site.path)
    async with BuildingRig(loaded, load_scenario(scenario_file), clock) as rig:
        meter = build_driver("pcc_meter", loaded.device("pcc_meter").connection,
                             loaded.profiles["pcc_meter"], clock)
        pv = build_driver("pv_inverter", loaded.device("pv_inverter").connection,
                          loaded.profiles["pv_inverter"], clock)
        await meter.start()
        await pv.start()
        try:
            readings = await meter.poll()
            assert readings["frequency_hz"].value == pytest.approx(60.0, abs=0.05)
            assert readings["voltage_a_v"].value == pytest.approx(277.0, rel=0.02)
            while rig.physics.steps < 1:
                await clock.sleep(1.0)
            before = (await pv.poll())["power_kw"].value
            assert isinstance(before, float) and before > 50.0
            await pv.write("curtailment_limit_pct", 25)
            await pv.write("curtailment_enable", 1)
            steps = rig.physics.steps
            while rig.physics.steps < steps + 2:
                await clock.sleep(1.0)
            after = (await pv.poll())["power_kw"].value
            assert after == pytest.approx(15.0, abs=0.1)
            assert rig.physics.flows.pv_kw == pytest.approx(15.0, abs=0.01)
        finally:
            await pv.stop()
            await meter.stop()
    await asyncio.get_running_loop().shutdown_default_executor()


def test_hil_command_exits_2_when_a_port_is_taken(site: PrivateSite, tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", site.tcp_ports[0]))  # the PCC meters' Modbus port
        squatter.listen()
        result = subprocess.run(
            [sys.executable, "-m", "gateway.cli", "hil", "--config", str(site.path)],
            capture_output=True, text=True, timeout=45, check=False, cwd=tmp_path,
        )
    assert result.returncode == 2, result.stderr
    assert "cannot start the simulated building" in result.stderr
    assert result.stdout == ""
