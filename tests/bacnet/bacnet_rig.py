"""BACnet test rig: simulated devices from the shipped profiles on free loopback ports.

Every application gets its own UDP port (two on one port split the traffic), and every
device and driver is closed at the end of its test.
"""

from __future__ import annotations

import socket
from contextlib import AsyncExitStack
from typing import Any

from drivers.bacnet.driver import BacnetDriver
from drivers.clock import Clock, RealClock
from drivers.connection import BacnetConnection
from drivers.profile import BacnetProfile, load_profile, resolve_profile_path
from hil.bacnet_server import BacnetDeviceServer
from hil.state import DeviceState

ZONE_VALUES = {"zone_temperature_c": 22.0, "setpoint_c": 22.5, "fan_status": True,
               "power_kw": 3.5}


def udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def vav_profile() -> BacnetProfile:
    profile = load_profile(resolve_profile_path("bacnet-vav-zone"))
    assert isinstance(profile, BacnetProfile)
    return profile


def variant(profile: BacnetProfile, **changes: dict[str, Any]) -> BacnetProfile:
    """A copy of ``profile`` with some points changed (a profile that disagrees)."""
    data = profile.model_dump()
    for point in data["points"]:
        point.update(changes.get(point["name"], {}))
    extra = changes.get("__add__")
    if extra:
        data["points"].append(extra)
    return BacnetProfile.model_validate(data)


class Rig:
    """Simulated devices and drivers of one test, all closed at its end."""

    def __init__(self, stack: AsyncExitStack) -> None:
        self._stack = stack
        self.drivers: list[BacnetDriver] = []

    async def device(self, values: dict[str, Any] | None = None, *, instance: int = 1001,
                     profile: BacnetProfile | None = None, role: str = "normal",
                     bbmd: str | None = None, port: int | None = None,
                     max_apdu: int = 1024, segmentation: str = "segmented-both",
                     ) -> BacnetDeviceServer:
        state = DeviceState(f"zone_{instance}", dict(values or ZONE_VALUES))
        server = BacnetDeviceServer(state, profile or vav_profile(), instance=instance,
                                    address=f"127.0.0.1:{port or udp_port()}",
                                    role=role, bbmd_address=bbmd)  # type: ignore[arg-type]
        server.device.max_apdu = max_apdu
        server.device.segmentation = segmentation
        return await self._stack.enter_async_context(server)

    def driver(self, server_or_address: BacnetDeviceServer | str, *, instance: int = 1001,
               profile: BacnetProfile | None = None, clock: Clock | None = None,
               **options: Any) -> BacnetDriver:
        if isinstance(server_or_address, str):
            address = server_or_address
        else:
            address = server_or_address.device.address.replace("/8", "")
            instance = server_or_address.device.instance
        options.setdefault("local_address", f"127.0.0.1/8:{udp_port()}")
        options.setdefault("timeout_s", 0.5)
        driver = BacnetDriver(
            f"zone_{instance}",
            BacnetConnection(kind="bacnet", address=address, device_instance=instance),
            profile or vav_profile(), clock or RealClock(), **options)
        self.drivers.append(driver)
        return driver
