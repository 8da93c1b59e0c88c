"""The simulated building's device state, shared by the physics and the protocol servers.

Each simulated device has one :class:`DeviceState`: engineering values keyed by the
canonical point names of its profile (``power_kw``, ``setpoint_c`` ...). The physics
writes measurements and reads setpoints; a protocol server (Modbus, BACnet, OPC UA, GPIO)
encodes the same values on the wire with the profile's scale and data type and writes
client commands back. Nothing protocol-specific lives here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

Value = float | int | bool | str | None
WriteListener = Callable[[str, Value], None]


@dataclass
class DeviceState:
    """Point values of one simulated device, with listeners for client writes."""

    device_id: str
    values: dict[str, Value] = field(default_factory=dict)
    available: bool = True  # False: the device does not answer (unplugged, powered off)
    _listeners: list[WriteListener] = field(default_factory=list, repr=False)

    def __getitem__(self, point: str) -> Value:
        return self.values[point]

    def get(self, point: str, default: Value = None) -> Value:
        return self.values.get(point, default)

    def set(self, point: str, value: Value) -> None:
        """A measurement from the physics (no listener is told)."""
        self.values[point] = value

    def client_write(self, point: str, value: Value) -> None:
        """A command from a protocol client: store it and tell the listeners."""
        self.values[point] = value
        for listener in self._listeners:
            listener(point, value)

    def on_client_write(self, listener: WriteListener) -> None:
        self._listeners.append(listener)


@dataclass
class BuildingState:
    """Every simulated device of the site, by device id."""

    devices: dict[str, DeviceState] = field(default_factory=dict)

    def device(self, device_id: str) -> DeviceState:
        if device_id not in self.devices:
            self.devices[device_id] = DeviceState(device_id)
        return self.devices[device_id]

    def __iter__(self) -> Iterator[DeviceState]:
        return iter(self.devices.values())
