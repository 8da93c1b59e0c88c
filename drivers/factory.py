"""Builds the driver of a device from its site ``connection`` and its profile.

A table of connection kind -> module: the module is imported only when a site uses that
kind (so a site without BACnet never imports bacpypes3), and on import it calls
:func:`register` for its kinds. A new protocol adds one line to ``PROTOCOL_MODULES``.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol

from drivers.base import Driver
from drivers.clock import Clock
from drivers.profile import Profile

PROTOCOL_MODULES: dict[str, str] = {
    "modbus_tcp": "drivers.modbus.driver",
    "modbus_rtu": "drivers.modbus.driver",
    "gpio": "drivers.gpio.driver",
    "bacnet": "drivers.bacnet.driver",
    "opcua": "drivers.opcua.driver",
}


class DriverBuilder(Protocol):
    def __call__(self, device_id: str, connection: Any, profile: Any, clock: Clock,
                 **options: Any) -> Driver: ...


_BUILDERS: dict[str, DriverBuilder] = {}


def register(kind: str, builder: DriverBuilder) -> None:
    """Called by a protocol module on import: ``kind`` is the site connection kind."""
    _BUILDERS[kind] = builder


def build_driver(device_id: str, connection: Any, profile: Profile, clock: Clock,
                 **options: Any) -> Driver:
    """The driver for one device; options go to the protocol's builder unchanged."""
    kind = connection.kind
    if kind not in _BUILDERS:
        module = PROTOCOL_MODULES.get(kind)
        if module is None:
            raise ValueError(f"device {device_id}: no driver for connection kind {kind!r} "
                             f"(known: {', '.join(sorted(PROTOCOL_MODULES))})")
        importlib.import_module(module)
    return _BUILDERS[kind](device_id, connection, profile, clock, **options)
