"""Simulated BACnet/IP devices: each serves one DeviceState through its profile.

The physics writes engineering values into the DeviceState; the server publishes them as
object present values (and, for commandable objects, as Relinquish_Default: the value the
device falls back to when no one commands it). A client write lands in the priority
array, and the *effective* present value after the array goes back into the state with
``state.client_write``. ``state.available = False`` makes the device stop answering.

On one machine every application needs its own UDP port, and Who-Is crosses ports only
through a BBMD: :func:`serve_site_bacnet` makes the site's first BACnet device the BBMD
and registers the others with it as foreign devices, so discovery works without root.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Literal

from drivers.bacnet.local import LocalBacnetDevice
from drivers.bacnet.ports import split_address
from drivers.clock import Clock
from drivers.connection import BacnetConnection
from drivers.profile import BacnetProfile
from hil.state import BuildingState, DeviceState
from hil.synced_server import SyncedDeviceServer

if TYPE_CHECKING:
    from gateway.config.loader import Site

log = logging.getLogger(__name__)

SYNC_INTERVAL_S = 0.05  # how often state values are published (COV latency floor)
REGISTRATION_TIMEOUT_S = 5.0


def with_prefix(address: str) -> str:
    """``127.0.0.1:47811`` → ``127.0.0.1/8:47811``: a prefix gives the app a broadcast socket."""
    host, prefix, port = split_address(address)
    if prefix is None:
        prefix = 8 if host.startswith("127.") else 24
    return f"{host}/{prefix}:{port}"


class BacnetDeviceServer(SyncedDeviceServer):
    """One simulated BACnet device serving ``state`` (an async context manager)."""

    protocol = "bacnet"
    profile: BacnetProfile

    def __init__(self, state: DeviceState, profile: BacnetProfile, *, instance: int,
                 address: str, role: Literal["normal", "bbmd", "foreign"] = "normal",
                 bbmd_address: str | None = None, clock: Clock | None = None,
                 sync_interval_s: float = SYNC_INTERVAL_S) -> None:
        super().__init__(state, profile, clock, sync_interval_s)
        self.device = LocalBacnetDevice(
            instance=instance, name=state.device_id, address=with_prefix(address),
            points=profile.points, on_write=self._client_write, before_request=self.sync,
            is_available=lambda: self.state.available, role=role, bbmd_address=bbmd_address,
        )

    async def _open(self, initial: dict[str, Any]) -> None:
        await self.device.start(initial)

    async def _read_back(self, point: str) -> Any:
        return self.device.value(point)

    async def _close(self) -> None:
        self.device.close()
        await asyncio.sleep(0)  # the transports close their sockets on the next loop pass

    async def publish(self) -> None:
        self.sync()

    def sync(self) -> None:
        """Publish state values that changed since the last publication (also called
        before each request is answered, so a read never sees a stale value)."""
        for point in self.profile.points:
            value = self.state.get(point.name)
            if value is None or value == self._published.get(point.name):
                continue
            self.device.set_value(point.name, value)
            effective = self.device.value(point.name)
            self._published[point.name] = effective
            if effective != value:
                self.state.set(point.name, effective)


@contextlib.asynccontextmanager
async def serve_site_bacnet(site: Site, building: BuildingState,
                            clock: Clock | None = None) -> AsyncIterator[list[BacnetDeviceServer]]:
    """Serve every BACnet device of the site: the first is the BBMD, the rest register."""
    servers: list[BacnetDeviceServer] = []
    bbmd: str | None = None
    async with contextlib.AsyncExitStack() as stack:
        for device in site.config.devices:
            connection = device.connection
            if not isinstance(connection, BacnetConnection):
                continue
            profile = site.profiles[device.id]
            assert isinstance(profile, BacnetProfile)
            host, _, port = split_address(connection.address)
            server = BacnetDeviceServer(
                building.device(device.id), profile, instance=connection.device_instance,
                address=connection.address, role="foreign" if bbmd else "bbmd",
                bbmd_address=bbmd, clock=clock,
            )
            await stack.enter_async_context(server)
            servers.append(server)
            bbmd = bbmd or f"{host}:{port}"
        for server in servers:
            if not await server.device.registered(REGISTRATION_TIMEOUT_S):
                log.warning("BACnet device %s did not register with the BBMD %s",
                            server.state.device_id, bbmd)
        yield servers
