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
from drivers.clock import Clock, RealClock
from drivers.connection import BacnetConnection
from drivers.profile import BacnetProfile
from hil.state import BuildingState, DeviceState

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


class BacnetDeviceServer:
    """One simulated BACnet device serving ``state`` (an async context manager)."""

    def __init__(self, state: DeviceState, profile: BacnetProfile, *, instance: int,
                 address: str, role: Literal["normal", "bbmd", "foreign"] = "normal",
                 bbmd_address: str | None = None, clock: Clock | None = None,
                 sync_interval_s: float = SYNC_INTERVAL_S) -> None:
        self.state = state
        self.profile = profile
        self.clock = clock or RealClock()
        self.sync_interval_s = sync_interval_s
        self._published: dict[str, Any] = {}
        self.device = LocalBacnetDevice(
            instance=instance, name=state.device_id, address=with_prefix(address),
            points=profile.points, on_write=self._client_write, before_request=self.sync,
            is_available=lambda: self.state.available, role=role, bbmd_address=bbmd_address,
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        initial = {p.name: self.state.get(p.name, p.safe_default) for p in self.profile.points}
        await self.device.start(initial)
        for point in self.profile.points:
            value = self.device.value(point.name)
            self._published[point.name] = value
            self.state.set(point.name, value)
        self._task = asyncio.create_task(self._sync_loop(),
                                         name=f"bacnet-sync-{self.state.device_id}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.device.close()
        await asyncio.sleep(0)  # the transports close their sockets on the next loop pass

    async def __aenter__(self) -> BacnetDeviceServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def sync(self) -> None:
        """Publish state values that changed since the last publication."""
        for point in self.profile.points:
            value = self.state.get(point.name)
            if value is None or value == self._published.get(point.name):
                continue
            self.device.set_value(point.name, value)
            effective = self.device.value(point.name)
            self._published[point.name] = effective
            if effective != value:
                self.state.set(point.name, effective)

    def _client_write(self, point: str, value: Any) -> None:
        self._published[point] = value
        self.state.client_write(point, value)

    async def _sync_loop(self) -> None:
        while True:
            self.sync()
            await self.clock.sleep(self.sync_interval_s * max(self.clock.speed, 1.0))


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
