"""The HIL helpers serve a site's BACnet and OPC UA devices as the site file describes them.

The demo site file is copied with free ports and a private PKI folder; the helpers create
the certificates, keys and trust list at the configured paths, and the gateway's drivers
(built by the factory, as the runtime builds them) read every device.
"""

from __future__ import annotations

import asyncio
import re
import socket
from pathlib import Path

import pytest

from drivers.bacnet.stack import BacnetStack
from drivers.base import Quality
from drivers.clock import RealClock
from drivers.factory import build_driver
from gateway.config.loader import load_site
from hil.bacnet_server import serve_site_bacnet
from hil.opcua_server import serve_site_opcua
from hil.state import BuildingState

pytestmark = pytest.mark.timeout(40)

DEMO = Path(__file__).resolve().parents[2] / "config" / "examples" / "demo-site.yaml"


def free_port(kind: socket.SocketKind) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def demo_copy(folder: Path) -> tuple[Path, dict[int, int], int]:
    """The demo site with free BACnet/OPC UA ports and its PKI under ``folder/pki``."""
    text = DEMO.read_text()
    bacnet = {old: free_port(socket.SOCK_DGRAM) for old in (47811, 47812, 47813, 47814)}
    for old, new in bacnet.items():
        text = text.replace(f"127.0.0.1:{old}", f"127.0.0.1:{new}")
    opcua = free_port(socket.SOCK_STREAM)
    text = text.replace("opc.tcp://127.0.0.1:4841/", f"opc.tcp://127.0.0.1:{opcua}/")
    text = re.sub(r"\.\./\.\./state/demo/pki/", "pki/", text)
    site = folder / "site.yaml"
    site.write_text(text)
    return site, bacnet, opcua


async def test_site_devices_are_served_and_read_by_the_gateway_drivers(tmp_path: Path) -> None:
    site_file, bacnet_ports, _ = demo_copy(tmp_path)
    site = load_site(site_file)
    building = BuildingState()
    building.device("battery").set("soc_pct", 64.0)
    building.device("hvac_zone_2").set("zone_temperature_c", 25.5)
    clock = RealClock()

    async with serve_site_bacnet(site, building, clock) as zones, \
            serve_site_opcua(site, building, clock) as batteries:
        assert [s.device.instance for s in zones] == [1001, 1002, 1003, 1004]
        assert len(batteries) == 1
        for name in ("gateway-cert.der", "gateway-key.pem", "battery-cert.der",
                     "battery-key.pem", "battery-trusted/gateway-cert.der"):
            assert (tmp_path / "pki" / name).exists(), name

        bbmd = f"127.0.0.1:{bacnet_ports[47811]}"
        stack = BacnetStack(f"127.0.0.1/8:{free_port(socket.SOCK_DGRAM)}", bbmd=bbmd)
        await stack.start()
        try:
            found = await stack.who_is(1.0)
        finally:
            stack.close()
        assert [instance for instance, _ in found] == [1001, 1002, 1003, 1004]

        options = {"bacnet": {"local_address": f"127.0.0.1/8:{free_port(socket.SOCK_DGRAM)}"},
                   "opcua": {"base_dir": str(site_file.parent)}}
        readings = {}
        for device_id in ("hvac_zone_2", "lighting", "battery"):
            device = site.device(device_id)
            driver = build_driver(device_id, device.connection, site.profiles[device_id],
                                  clock, **options[device.connection.kind])
            await driver.start()
            try:
                readings[device_id] = await driver.poll()
            finally:
                await driver.stop()

    # asyncua's server init fills its address space in the loop's default executor
    await asyncio.get_running_loop().shutdown_default_executor()
    assert readings["hvac_zone_2"]["zone_temperature_c"].value == 25.5
    assert readings["lighting"]["level_pct"].value == 100.0  # the profile's safe default
    assert readings["battery"]["soc_pct"].value == 64.0
    assert all(r.quality is Quality.GOOD for d in readings.values() for r in d.values())
