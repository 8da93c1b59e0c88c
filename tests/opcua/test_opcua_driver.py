"""The OPC UA driver against the simulated battery server, secured as the demo site is.

One server per module (asyncua's server init takes about a second); each test builds its
own driver and stops it. The restart test leaves the server running again.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from drivers.base import DriverError, FaultLevel, Quality, Reading, WriteRejected
from drivers.clock import ManualClock, RealClock
from drivers.connection import OpcuaConnection
from drivers.opcua.driver import OpcuaDriver
from drivers.opcua.local import ServerSecurity
from drivers.profile import OpcuaProfile, load_profile, resolve_profile_path
from hil import pki
from hil.opcua_server import OpcuaDeviceServer
from hil.state import DeviceState

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(30)]

BATTERY = {"soc_pct": 55.0, "power_kw": 0.0, "power_setpoint_kw": 0.0, "mode": 0,
           "max_charge_kw": 75.0, "max_discharge_kw": 75.0, "capacity_kwh": 200.0,
           "setpoint_timeout_s": 60.0}


def tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def battery_profile(**changes: dict[str, Any]) -> OpcuaProfile:
    profile = load_profile(resolve_profile_path("opcua-battery"))
    assert isinstance(profile, OpcuaProfile)
    data = profile.model_dump()
    for point in data["points"]:
        point.update(changes.get(point["name"], {}))
    return OpcuaProfile.model_validate(data)


@dataclass
class Battery:
    server: OpcuaDeviceServer
    endpoint: str
    pki: Path

    @property
    def state(self) -> DeviceState:
        return self.server.state

    def connection(self, **changes: Any) -> OpcuaConnection:
        settings: dict[str, Any] = {
            "kind": "opcua", "endpoint": self.endpoint, "security_policy": "Basic256Sha256",
            "security_mode": "SignAndEncrypt", "certificate": "gateway-cert.der",
            "private_key": "gateway-key.pem", "server_certificate": "battery-cert.der",
            "credentials_file": "battery-credentials.yaml"}
        settings.update(changes)
        return OpcuaConnection.model_validate(settings)


@pytest.fixture(scope="module")
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("pki")
    pki.ensure_pki(client_certificate=folder / "gateway-cert.der",
                   client_key=folder / "gateway-key.pem",
                   server_certificate=folder / "battery-cert.der",
                   server_uri="urn:temix:battery:server", server_name="battery")
    (folder / "battery-credentials.yaml").write_text("user: gateway\npassword: s3cret\n")
    return folder


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def battery(pki_dir: Path) -> AsyncIterator[Battery]:
    endpoint = f"opc.tcp://127.0.0.1:{tcp_port()}/temix/battery"
    security = ServerSecurity(pki_dir / "battery-cert.der", pki_dir / "battery-key.pem",
                              pki.trust_directory(pki_dir / "battery-cert.der"),
                              "urn:temix:battery:server")
    server = OpcuaDeviceServer(DeviceState("battery", dict(BATTERY)), battery_profile(),
                               endpoint=endpoint, security=security,
                               users={"gateway": "s3cret"})
    async with server:
        yield Battery(server, endpoint, pki_dir)


@pytest.fixture
def drivers() -> Iterator[list[OpcuaDriver]]:
    made: list[OpcuaDriver] = []
    yield made
    assert all(d._stopped for d in made), "every driver must be stopped by its test"


def make_driver(battery: Battery, made: list[OpcuaDriver], profile: OpcuaProfile | None = None,
                **connection: Any) -> OpcuaDriver:
    driver = OpcuaDriver("battery", battery.connection(**connection),
                         profile or battery_profile(), RealClock(), base_dir=battery.pki,
                         timeout_s=1.0, publishing_interval_ms=20, reconnect_initial_s=0.05)
    made.append(driver)
    return driver


async def test_secure_session_reads_every_point(battery: Battery,
                                                drivers: list[OpcuaDriver]) -> None:
    driver = make_driver(battery, drivers)
    await driver.start()
    try:
        readings = await driver.poll()
    finally:
        await driver.stop()

    assert driver.fault is None
    assert {n: r.value for n, r in readings.items()} == BATTERY
    assert all(r.quality is Quality.GOOD for r in readings.values())
    assert isinstance(readings["mode"].value, int)


async def test_sign_only_mode_works_too(battery: Battery, drivers: list[OpcuaDriver]) -> None:
    driver = make_driver(battery, drivers, security_mode="Sign")
    await driver.start()
    try:
        assert (await driver.poll())["capacity_kwh"].value == 200.0
    finally:
        await driver.stop()


async def test_write_uses_the_variant_type_and_stop_restores_safe_defaults(
        battery: Battery, drivers: list[OpcuaDriver]) -> None:
    driver = make_driver(battery, drivers)
    written: list[tuple[str, Any]] = []
    battery.state.on_client_write(lambda point, value: written.append((point, value)))
    await driver.start()

    await driver.write("power_setpoint_kw", 40)  # a Python int into a Double node
    await driver.write("mode", 1)

    assert battery.state["power_setpoint_kw"] == 40.0
    assert battery.state["mode"] == 1
    assert (await driver.poll())["power_setpoint_kw"].value == 40.0

    await driver.stop()

    assert battery.state["power_setpoint_kw"] == 0.0
    assert battery.state["mode"] == 0
    assert ("power_setpoint_kw", 40.0) in written and ("power_setpoint_kw", 0.0) in written


async def test_write_follows_the_servers_data_type_when_the_profile_disagrees(
        battery: Battery, drivers: list[OpcuaDriver]) -> None:
    profile = battery_profile(mode={"variant_type": "Double"})  # the server says Int32
    driver = make_driver(battery, drivers, profile=profile)
    await driver.start()
    try:
        await driver.write("mode", 1)
        assert battery.state["mode"] == 1
    finally:
        await driver.stop()
    assert battery.state["mode"] == 0


async def test_writes_are_checked_against_the_profile(battery: Battery,
                                                      drivers: list[OpcuaDriver]) -> None:
    driver = make_driver(battery, drivers)
    await driver.start()
    try:
        with pytest.raises(WriteRejected, match="outside the allowed range"):
            await driver.write("power_setpoint_kw", 80.0)
        with pytest.raises(WriteRejected, match="read-only"):
            await driver.write("soc_pct", 50.0)
    finally:
        await driver.stop()


async def test_data_change_subscription_reaches_the_gateway(
        battery: Battery, drivers: list[OpcuaDriver]) -> None:
    driver = make_driver(battery, drivers)
    changes: asyncio.Queue[tuple[str, Reading]] = asyncio.Queue()
    driver.on_change(lambda point, reading: changes.put_nowait((point, reading)))
    await driver.start()
    try:
        battery.state.set("soc_pct", 57.5)
        await _wait_for(changes, "soc_pct", 57.5)
    finally:
        await driver.stop()
        battery.state.set("soc_pct", BATTERY["soc_pct"])


async def test_browse_path_addresses_a_node(battery: Battery,
                                            drivers: list[OpcuaDriver]) -> None:
    profile = battery_profile(soc_pct={"node_id": None, "browse_path": ["2:Battery", "2:SoC"]})
    driver = make_driver(battery, drivers, profile=profile)
    await driver.start()
    try:
        assert (await driver.poll())["soc_pct"].value == BATTERY["soc_pct"]
    finally:
        await driver.stop()


async def test_wrong_node_id_is_a_bad_point_with_a_named_fault(
        battery: Battery, drivers: list[OpcuaDriver]) -> None:
    profile = battery_profile(setpoint_timeout_s={"node_id": "ns=2;s=Battery.SetpointTimout"})
    driver = make_driver(battery, drivers, profile=profile)
    await driver.start()
    try:
        readings = await driver.poll()
        with pytest.raises(DriverError) as caught:
            await driver.write("setpoint_timeout_s", 30.0)
    finally:
        await driver.stop()

    assert readings["setpoint_timeout_s"].quality is Quality.BAD
    assert readings["soc_pct"].quality is Quality.GOOD
    assert driver.fault is not None and driver.fault.level is FaultLevel.WARNING
    assert "Battery.SetpointTimout" in driver.fault.message
    assert "BadNodeIdUnknown" in driver.fault.message
    assert caught.value.code == "bad_node"


async def test_untrusted_server_certificate_is_refused_clearly(
        battery: Battery, drivers: list[OpcuaDriver], tmp_path: Path) -> None:
    pki.make_application_certificate(tmp_path / "impostor-cert.der", tmp_path / "impostor.pem",
                                     common_name="impostor", application_uri="urn:impostor",
                                     server=True)
    driver = make_driver(battery, drivers, server_certificate=str(tmp_path / "impostor-cert.der"))
    await driver.start()
    readings = await driver.poll()
    await driver.stop()

    assert driver.fault is not None and driver.fault.code == "untrusted_server"
    assert "not trusted" in driver.fault.message and "CN=battery" in driver.fault.message
    assert "impostor-cert.der" in driver.fault.message
    assert all(r.quality is Quality.BAD for r in readings.values())


async def test_client_certificate_the_server_does_not_trust_is_named(
        battery: Battery, drivers: list[OpcuaDriver], tmp_path: Path) -> None:
    pki.make_application_certificate(tmp_path / "stranger-cert.der", tmp_path / "stranger.pem",
                                     common_name="stranger",
                                     application_uri=pki.GATEWAY_APPLICATION_URI, server=False)
    driver = make_driver(battery, drivers, certificate=str(tmp_path / "stranger-cert.der"),
                         private_key=str(tmp_path / "stranger.pem"))
    await driver.start()
    await driver.stop()

    assert driver.fault is not None and driver.fault.code == "rejected_by_server"
    assert "stranger-cert.der" in driver.fault.message


async def test_wrong_password_is_a_fault_naming_the_credentials(
        battery: Battery, drivers: list[OpcuaDriver], tmp_path: Path) -> None:
    (tmp_path / "wrong.yaml").write_text("user: gateway\npassword: guess\n")
    driver = make_driver(battery, drivers, credentials_file=str(tmp_path / "wrong.yaml"))
    await driver.start()
    await driver.stop()

    assert driver.fault is not None and driver.fault.code == "bad_identity"
    assert "credentials" in driver.fault.message


async def test_server_absent_at_start_is_a_fault_not_an_exception(
        battery: Battery, drivers: list[OpcuaDriver]) -> None:
    endpoint = f"opc.tcp://127.0.0.1:{tcp_port()}/temix/battery"
    driver = make_driver(battery, drivers, endpoint=endpoint)
    await driver.start()
    readings = await driver.poll()
    await driver.stop()

    assert driver.fault is not None and driver.fault.code == "unreachable"
    assert all(r.quality is Quality.BAD for r in readings.values())


async def test_server_restart_reconnects_and_restores_the_subscription(
        battery: Battery, drivers: list[OpcuaDriver]) -> None:
    driver = make_driver(battery, drivers)
    changes: asyncio.Queue[tuple[str, Reading]] = asyncio.Queue()
    driver.on_change(lambda point, reading: changes.put_nowait((point, reading)))
    await driver.start()
    try:
        battery.state.available = False
        await battery.server.publish()
        readings = await driver.poll()
        assert all(r.quality is Quality.BAD for r in readings.values())
        assert driver.fault is not None and driver.fault.code == "unreachable"

        battery.state.available = True
        await battery.server.publish()
        async with asyncio.timeout(10):
            while (await driver.poll())["soc_pct"].quality is not Quality.GOOD:
                await asyncio.sleep(0.05)
        assert driver.fault is None

        battery.state.set("soc_pct", 61.0)
        await _wait_for(changes, "soc_pct", 61.0)
    finally:
        battery.state.available = True
        await driver.stop()
        battery.state.set("soc_pct", BATTERY["soc_pct"])


async def test_overlapping_availability_changes_restart_the_listener_once(
        battery: Battery, drivers: list[OpcuaDriver]) -> None:
    """The sync loop and a test (or two loops) may follow ``available`` at the same time:
    a second resume while the first is still binding must not bind the port twice."""
    listener = battery.server.server
    await asyncio.gather(listener.pause(), listener.pause())
    assert not listener.running
    await asyncio.gather(listener.resume(), listener.resume(), battery.server.publish())
    assert listener.running

    driver = make_driver(battery, drivers)
    await driver.start()
    try:
        assert (await driver.poll())["capacity_kwh"].quality is Quality.GOOD
    finally:
        await driver.stop()


async def _wait_for(changes: asyncio.Queue[tuple[str, Reading]], point: str,
                    value: float) -> None:
    async with asyncio.timeout(5):
        while True:
            name, reading = await changes.get()
            if name == point and reading.value == value:
                return


async def test_reconnect_attempts_back_off_and_build_a_fresh_session(
        battery: Battery, drivers: list[OpcuaDriver]) -> None:
    attempts = 0

    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal attempts
        attempts += 1
        writer.close()

    listener = await asyncio.start_server(refuse, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    clock = ManualClock(datetime(2026, 7, 1, tzinfo=UTC))
    driver = OpcuaDriver("battery", battery.connection(endpoint=f"opc.tcp://127.0.0.1:{port}/x"),
                         battery_profile(), clock, base_dir=battery.pki, timeout_s=1.0,
                         reconnect_initial_s=1.0, reconnect_max_s=4.0)
    drivers.append(driver)
    seen = []
    try:
        await driver.start()
        for step in (0.5, 0.5, 1.0, 1.0, 2.0, 4.0, 4.0):
            seen.append(attempts)
            await clock.advance(step)
            await driver.poll()
        seen.append(attempts)
    finally:
        await driver.stop()
        listener.close()
        await listener.wait_closed()

    assert driver.fault is not None and driver.fault.code == "unreachable"
    # attempts at t = 0 (start), 1, 3, 9 and 13 s: waits of 1, 2, 4 and 4 s (the cap)
    assert seen == [1, 1, 2, 2, 3, 3, 4, 5]
