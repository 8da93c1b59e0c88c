"""What the simulated BACnet and OPC UA devices share: a protocol server publishing one
DeviceState, client writes fed back into the state, and a background loop that publishes
what the physics changed.

A subclass opens and closes its protocol server, reads a published value back, and says
what one publication pass does (:meth:`SyncedDeviceServer.publish`).
"""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Self

from drivers.clock import Clock, RealClock
from drivers.profile import BacnetProfile, OpcuaProfile
from hil.state import DeviceState


class SyncedDeviceServer(ABC):
    """One simulated device serving ``state`` through ``profile`` (an async context manager)."""

    protocol: ClassVar[str]

    def __init__(
        self,
        state: DeviceState,
        profile: BacnetProfile | OpcuaProfile,
        clock: Clock | None,
        sync_interval_s: float,
    ) -> None:
        self.state = state
        self.profile = profile
        self.clock = clock or RealClock()
        self.sync_interval_s = sync_interval_s
        self._published: dict[str, Any] = {}
        self._task: asyncio.Task[None] | None = None

    @abstractmethod
    async def _open(self, initial: dict[str, Any]) -> None:
        """Start the protocol server with these point values."""

    @abstractmethod
    async def _read_back(self, point: str) -> Any:
        """The value the server now publishes for ``point`` (after its own coercion)."""

    @abstractmethod
    async def _close(self) -> None:
        """Stop the protocol server and release its sockets."""

    @abstractmethod
    async def publish(self) -> None:
        """One publication pass: state values that changed go out to clients."""

    async def start(self) -> None:
        initial = {p.name: self.state.get(p.name, p.safe_default) for p in self.profile.points}
        await self._open(initial)
        for point in self.profile.points:
            value = await self._read_back(point.name)
            self._published[point.name] = value
            self.state.set(point.name, value)
        self._task = asyncio.create_task(
            self._sync_loop(), name=f"{self.protocol}-sync-{self.state.device_id}"
        )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._close()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _client_write(self, point: str, value: Any) -> None:
        self._published[point] = value
        self.state.client_write(point, value)

    async def _sync_loop(self) -> None:
        while True:
            await self.publish()
            await self.clock.sleep(self.sync_interval_s * max(self.clock.speed, 1.0))
