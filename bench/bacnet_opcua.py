"""BACnet/IP and OPC UA: reads per second and change-notification latency, driver vs library.

For each protocol, in one run on loopback against the simulated devices of ``hil/``:

- **reads/s**: sequential full polls of the device's profile by our driver (BACnet: one
  ReadPropertyMultiple of the four VAV points; OPC UA: one Read of the eight battery nodes,
  Basic256Sha256 SignAndEncrypt), and the same request made with the raw library
  (bacpypes3 ``read_property_multiple``, asyncua ``read_attributes``) — the ratio is our
  overhead;
- **change latency**: a value changes in the device, until the client hears it — our
  driver's ``on_change`` (BACnet COV, OPC UA data change with a 20 ms publishing interval)
  and the raw library's subscription (bacpypes3 ``change_of_value``, asyncua handler).
  Median and 95th percentile.

This script is the one place outside drivers/ that imports bacpypes3 and asyncua: it
measures them. Run: ``python bench/bacnet_opcua.py [--seconds S] [--changes N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path[:] = [entry for entry in sys.path if Path(entry).resolve() != Path(__file__).parent]

from asyncua.client.client import Client  # noqa: E402
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256  # noqa: E402
from asyncua.ua import MessageSecurityMode  # noqa: E402
from bacpypes3.pdu import Address  # noqa: E402
from bacpypes3.primitivedata import ObjectIdentifier  # noqa: E402

from drivers.bacnet.driver import BacnetDriver  # noqa: E402
from drivers.bacnet.stack import BacnetStack  # noqa: E402
from drivers.clock import RealClock  # noqa: E402
from drivers.connection import BacnetConnection, OpcuaConnection  # noqa: E402
from drivers.opcua.driver import OpcuaDriver  # noqa: E402
from drivers.opcua.local import ServerSecurity  # noqa: E402
from drivers.profile import BacnetProfile, OpcuaProfile, load_profile  # noqa: E402
from drivers.profile import resolve_profile_path as profile_path  # noqa: E402
from hil import pki  # noqa: E402
from hil.bacnet_server import BacnetDeviceServer  # noqa: E402
from hil.opcua_server import OpcuaDeviceServer  # noqa: E402
from hil.state import DeviceState  # noqa: E402

ZONE = {"zone_temperature_c": 22.0, "setpoint_c": 22.5, "fan_status": True, "power_kw": 3.5}
BATTERY = {"soc_pct": 55.0, "power_kw": 0.0, "power_setpoint_kw": 0.0, "mode": 0,
           "max_charge_kw": 75.0, "max_discharge_kw": 75.0, "capacity_kwh": 200.0,
           "setpoint_timeout_s": 60.0}


def port(kind: socket.SocketKind) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        number: int = sock.getsockname()[1]
        return number


async def rate(seconds: float, call: Callable[[], Awaitable[object]]) -> float:
    """Sequential calls per second over ``seconds``."""
    await call()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        await call()
        count += 1
    return count / (time.perf_counter() - start)


async def latencies(changes: int, change: Callable[[int], Awaitable[None]],
                    heard: asyncio.Queue[float]) -> list[float]:
    """Seconds from each change to its notification."""
    found = []
    for n in range(changes):
        while not heard.empty():
            heard.get_nowait()
        start = time.perf_counter()
        await change(n)
        arrived = await asyncio.wait_for(heard.get(), 5)
        found.append(arrived - start)
        await asyncio.sleep(0.01)
    return found


def summary(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return f"median {statistics.median(ordered) * 1000:6.1f} ms, p95 {p95 * 1000:6.1f} ms"


async def bacnet(seconds: float, changes: int) -> None:
    profile = load_profile(profile_path("bacnet-vav-zone"))
    assert isinstance(profile, BacnetProfile)
    device_port = port(socket.SOCK_DGRAM)
    state = DeviceState("zone", dict(ZONE))
    async with BacnetDeviceServer(state, profile, instance=1001,
                                  address=f"127.0.0.1:{device_port}") as server:
        address = f"127.0.0.1:{device_port}"
        connection = BacnetConnection(kind="bacnet", address=address, device_instance=1001)
        driver = BacnetDriver("zone", connection, profile, RealClock(), cov=False,
                              local_address=f"127.0.0.1/8:{port(socket.SOCK_DGRAM)}")
        await driver.start()
        ours = await rate(seconds, driver.poll)
        await driver.stop()

        raw_stack = BacnetStack(f"127.0.0.1/8:{port(socket.SOCK_DGRAM)}")
        await raw_stack.start()
        app = raw_stack.app
        refs: list[object] = []
        for point in profile.points:
            refs += [ObjectIdentifier(point.object), ["present-value"]]
        raw = await rate(seconds, lambda: app.read_property_multiple(Address(address), refs))
        print(f"BACnet reads/s   driver poll (RPM, 4 points) {ours:8.0f}   "
              f"bacpypes3 read_property_multiple {raw:8.0f}   ratio {ours / raw:.2f}")

        heard: asyncio.Queue[float] = asyncio.Queue()
        driver = BacnetDriver("zone", connection, profile, RealClock(),
                              local_address=f"127.0.0.1/8:{port(socket.SOCK_DGRAM)}")
        driver.on_change(lambda name, _r: heard.put_nowait(time.perf_counter())
                         if name == "power_kw" else None)
        await driver.start()

        async def change(n: int) -> None:
            server.device.set_value("power_kw", 4.0 + n)

        ours_cov = await latencies(changes, change, heard)
        await driver.stop()
        subscription = app.change_of_value(Address(address), ObjectIdentifier("analog-input,2"),
                                           None, False, 300)
        async with subscription:
            await subscription.get_value()

            async def listen() -> None:
                while True:
                    prop, _value = await subscription.get_value()
                    if str(prop) == "present-value":
                        heard.put_nowait(time.perf_counter())

            listener = asyncio.create_task(listen())
            raw_cov = await latencies(changes, lambda n: change(100 + n), heard)
            listener.cancel()
        raw_stack.close()
        print(f"BACnet COV       driver on_change {summary(ours_cov)}   "
              f"bacpypes3 change_of_value {summary(raw_cov)}")


async def opcua(seconds: float, changes: int) -> None:
    profile = load_profile(profile_path("opcua-battery"))
    assert isinstance(profile, OpcuaProfile)
    folder = Path(tempfile.mkdtemp(prefix="bench-pki-"))
    pki.ensure_pki(client_certificate=folder / "gateway-cert.der",
                   client_key=folder / "gateway-key.pem",
                   server_certificate=folder / "battery-cert.der",
                   server_uri="urn:temix:battery:server", server_name="battery")
    endpoint = f"opc.tcp://127.0.0.1:{port(socket.SOCK_STREAM)}/temix/battery"
    security = ServerSecurity(folder / "battery-cert.der", folder / "battery-key.pem",
                              pki.trust_directory(folder / "battery-cert.der"),
                              "urn:temix:battery:server")
    state = DeviceState("battery", dict(BATTERY))
    async with OpcuaDeviceServer(state, profile, endpoint=endpoint, security=security) as server:
        connection = OpcuaConnection(
            kind="opcua", endpoint=endpoint, security_policy="Basic256Sha256",
            security_mode="SignAndEncrypt", certificate="gateway-cert.der",
            private_key="gateway-key.pem", server_certificate="battery-cert.der")
        heard: asyncio.Queue[float] = asyncio.Queue()
        driver = OpcuaDriver("battery", connection, profile, RealClock(), base_dir=folder,
                             publishing_interval_ms=20)
        driver.on_change(lambda name, _r: heard.put_nowait(time.perf_counter())
                         if name == "soc_pct" else None)
        await driver.start()
        ours = await rate(seconds, driver.poll)

        async def change(n: int) -> None:
            await server.server.set_value("soc_pct", 10.0 + n)

        ours_sub = await latencies(changes, change, heard)
        await driver.stop()

        client = Client(endpoint)
        client.application_uri = pki.GATEWAY_APPLICATION_URI
        await client.set_security(SecurityPolicyBasic256Sha256,
                                  str(folder / "gateway-cert.der"),
                                  str(folder / "gateway-key.pem"),
                                  server_certificate=str(folder / "battery-cert.der"),
                                  mode=MessageSecurityMode.SignAndEncrypt)
        await client.connect()
        nodes = [client.get_node(p.node_id) for p in profile.points if p.node_id]
        raw = await rate(seconds, lambda: client.read_attributes(nodes))

        class Handler:
            def datachange_notification(self, node: object, val: object, data: object) -> None:
                heard.put_nowait(time.perf_counter())

        subscription = await client.create_subscription(20, Handler())
        await subscription.subscribe_data_change(nodes[0])
        await asyncio.wait_for(heard.get(), 5)
        raw_sub = await latencies(changes, lambda n: change(100 + n), heard)
        await subscription.delete()
        await client.disconnect()
        print(f"OPC UA reads/s   driver poll (Read, 8 nodes, SignAndEncrypt) {ours:8.0f}   "
              f"asyncua read_attributes {raw:8.0f}   ratio {ours / raw:.2f}")
        print(f"OPC UA change    driver on_change {summary(ours_sub)}   "
              f"asyncua subscription {summary(raw_sub)}   (publishing interval 20 ms)")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per read measurement")
    parser.add_argument("--changes", type=int, default=50, help="changes per latency figure")
    args = parser.parse_args()
    logging.getLogger("asyncua").setLevel(logging.ERROR)
    await bacnet(args.seconds, args.changes)
    await opcua(args.seconds, args.changes)


if __name__ == "__main__":
    asyncio.run(main())
