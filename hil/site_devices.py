"""Start every Modbus and GPIO device of a site file as simulators of the HIL rig.

Devices on one TCP host:port share one server (a unit id each, like a Modbus gateway);
devices on one serial port share one RTU line — a pty pair with a symlink at the
configured path (relative paths are relative to the site file, as in the site file) —
and GPIO devices get mock pins on one gpiozero MockFactory, which the gateway's GPIO
drivers must use too (pass ``rig.pin_factory`` as their ``pin_factory`` option; this
works in one process only).

    async with SiteDevices(site, building, clock) as rig:
        rig.tcp_ports    # {(host, port): real port}
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from gpiozero.pins.mock import MockFactory

from drivers.clock import Clock
from drivers.connection import GpioConnection, ModbusRtuConnection, ModbusTcpConnection
from drivers.profile import GpioProfile, ModbusProfile
from hil.gpio_sim import GpioSimulator
from hil.modbus_server import ModbusRtuSimulator, ModbusTcpSimulator, ModbusUnit
from hil.rtu import PtyPair
from hil.state import BuildingState


def serial_path(site_path: Path, port: str) -> Path:
    """A site file's serial port as a path (relative to the site file's folder); symlinks
    are not followed (the rig's own link may already be there)."""
    path = Path(port)
    return path if path.is_absolute() else Path(os.path.normpath(site_path.parent / path))


class SiteDevices:
    """The Modbus servers, RTU lines and GPIO simulators of one site."""

    def __init__(self, site: Any, building: BuildingState, clock: Clock, *,
                 pin_factory: MockFactory | None = None, bind_host: str | None = None,
                 tcp_port_zero: bool = False, serial_dir: Path | None = None,
                 operate_s: float = 0.05,
                 before_read: Callable[[], object] | None = None) -> None:
        """``site`` is gateway.config.load_site(...)'s result. For tests: ``tcp_port_zero``
        binds free ports instead of the configured ones (read them back in ``tcp_ports``);
        ``serial_dir`` puts the serial links there instead of at the configured paths
        (read them back in ``serial_ports``)."""
        self.site = site
        self.building = building
        self.pin_factory = pin_factory or MockFactory()
        self._clock = clock
        self._bind_host = bind_host
        self._port_zero = tcp_port_zero
        self._operate_s = operate_s
        self._before_read = before_read  # every Modbus unit calls it before answering a read
        self._serial_dir = serial_dir
        self._stack = contextlib.AsyncExitStack()
        self.tcp_ports: dict[tuple[str, int], int] = {}
        self.serial_ports: dict[str, str] = {}  # configured path -> client end
        self.gpio: dict[str, GpioSimulator] = {}
        self.tcp: dict[tuple[str, int], ModbusTcpSimulator] = {}

    async def __aenter__(self) -> SiteDevices:
        try:
            await self._start()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self._stack.aclose()

    async def _start(self) -> None:
        tcp: dict[tuple[str, int], dict[int, ModbusUnit]] = {}
        rtu: dict[str, tuple[ModbusRtuConnection, dict[int, ModbusUnit]]] = {}
        for device in self.site.config.devices:
            profile = self.site.profiles.get(device.id)
            connection = device.connection
            state = self.building.device(device.id)
            if isinstance(connection, ModbusTcpConnection) and isinstance(profile, ModbusProfile):
                key = (connection.host, connection.port)
                tcp.setdefault(key, {})[connection.unit] = ModbusUnit(
                    profile, state, before_read=self._before_read)
            elif isinstance(connection, ModbusRtuConnection) and isinstance(profile,
                                                                            ModbusProfile):
                line = rtu.setdefault(connection.port, (connection, {}))
                line[1][connection.unit] = ModbusUnit(profile, state,
                                                      before_read=self._before_read)
            elif isinstance(connection, GpioConnection) and isinstance(profile, GpioProfile):
                sim = GpioSimulator(profile, state, connection.pins, self.pin_factory,
                                    self._clock, operate_s=self._operate_s)
                self.gpio[device.id] = await self._stack.enter_async_context(sim)
        for (host, port), units in tcp.items():
            server = ModbusTcpSimulator(units, host=self._bind_host or host,
                                        port=0 if self._port_zero else port)
            self.tcp[(host, port)] = await self._stack.enter_async_context(server)
            self.tcp_ports[(host, port)] = server.port
        for path, (connection, units) in rtu.items():
            link = serial_path(Path(self.site.path), path)
            if self._serial_dir is not None:
                link = self._serial_dir / link.name
            pair = await self._stack.enter_async_context(PtyPair(link=link))
            await self._stack.enter_async_context(
                ModbusRtuSimulator(units, port=pair.server_port, baud=connection.baud,
                                   stop_bits=connection.stop_bits))
            self.serial_ports[path] = pair.client_port
