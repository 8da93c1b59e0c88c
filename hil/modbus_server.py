"""Simulated Modbus devices (TCP, or RTU on a serial line) built from device profiles.

Each unit id serves one :class:`~hil.state.DeviceState`: every read encodes the state's
current values with the profile's types, word order, scales and SunSpec scale factors,
so the physics is always current; a client write is decoded and handed to
``state.client_write``. ``state.available = False`` makes the unit go silent (the request
is dropped, as an unplugged device would). Test knobs per unit: ``delay_s`` (a slow
device) and ``exception`` (answer every request with that Modbus exception code).

    async with ModbusTcpSimulator({1: ModbusUnit(profile, state)}, port=0) as server:
        server.port  # the real port
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from pymodbus.constants import ExcCodes
from pymodbus.exceptions import NoSuchIdException
from pymodbus.framer import FramerType
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from drivers.modbus import codec
from drivers.modbus.sunspec import layout_map
from drivers.profile import ModbusPoint, ModbusProfile, ModbusType
from hil.state import DeviceState, Value
from hil.sunspec_image import sunspec_registers

_TABLES = {1: "coil", 5: "coil", 15: "coil", 2: "discrete", 3: "holding", 6: "holding",
           16: "holding", 23: "holding", 4: "input"}
# default SunSpec scale factor by the unit of the points that use it and whether they are
# 16-bit registers; the state may override it (``state["w_sf"] = 0``)
DEFAULT_SF = {"kW": 1, "V": -1, "Hz": -2, "kWh": 0, "%": -1, "A": -1, "degC": -1}
DEFAULT_SF_16BIT = {"kWh": 2}


@dataclass
class ModbusUnit:
    """One simulated device behind a unit id."""

    profile: ModbusProfile
    state: DeviceState
    delay_s: float = 0.0
    exception: int | None = None
    before_read: Callable[[], object] | None = None
    """Called before each read is answered: the rig steps its physics up to the clock, so
    a reply never carries values from before a stall of the event loop."""
    _points: dict[str, dict[int, tuple[ModbusPoint, int]]] = field(init=False, repr=False)
    _fixed: dict[int, int] = field(init=False, repr=False)
    _overlay: dict[int, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._points = {"holding": {}, "input": {}, "coil": {}, "discrete": {}}
        chain = layout_map(self.profile.sunspec) if self.profile.sunspec else None
        for point in self.profile.points:
            address = point.address
            if address is None:
                assert chain is not None and point.model is not None
                address = chain.address(point.model, point.offset or 0)
                assert address is not None
            for i in range(point.register_count):
                self._points[point.table][address + i] = (point, i)
        self._fixed = {}
        self._overlay = {}

    def serve_sunspec(self, unit: int) -> None:
        if self.profile.sunspec is not None:
            self._fixed = sunspec_registers(self.profile, unit, self.state.device_id)

    # -- the register image -------------------------------------------------------------

    def read(self, table: str, address: int, count: int) -> list[int] | ExcCodes:
        points = self._points[table]
        encoded: dict[str, list[int]] = {}
        values: list[int] = []
        for register in range(address, address + count):
            hit = points.get(register)
            if hit is not None:
                point, index = hit
                if point.name not in encoded:
                    encoded[point.name] = self.encode_point(point)
                values.append(encoded[point.name][index])
            elif register in self._overlay:
                values.append(self._overlay[register])
            elif table == "holding" and register in self._fixed:
                values.append(self._fixed[register])
            else:
                return ExcCodes.ILLEGAL_ADDRESS
        return values

    def write(self, table: str, address: int, values: Sequence[int]) -> ExcCodes | None:
        points = self._points[table]
        written = dict(zip(range(address, address + len(values)), values, strict=True))
        for register in written:
            hit = points.get(register)
            if hit is None and register not in self._fixed:
                return ExcCodes.ILLEGAL_ADDRESS
            if hit is not None and hit[0].access == "r":
                return ExcCodes.ILLEGAL_ADDRESS
        done: set[str] = set()
        for register in written:
            hit = points.get(register)
            if hit is None:
                self._overlay[register] = int(written[register])
                continue
            point, index = hit
            if point.name in done:
                continue
            start = register - index
            span = range(start, start + point.register_count)
            current = self.encode_point(point)
            merged = [int(written.get(r, current[i])) for i, r in enumerate(span)]
            self.state.client_write(point.name, self.decode_point(point, merged))
            done.add(point.name)
        return None

    # -- values <-> registers -----------------------------------------------------------

    def encode_point(self, point: ModbusPoint) -> list[int]:
        value = self.state.get(point.name)
        if point.type is ModbusType.SUNSSF:
            return codec.encode(point.type, self.scale_factor(point.name))
        if value is None or point.type in (ModbusType.STRING, ModbusType.BOOL,
                                            ModbusType.ENUM16, ModbusType.BITFIELD16,
                                            ModbusType.BITFIELD32):
            return codec.encode(point.type, value, point.word_order, point.length)
        assert isinstance(value, int | float)
        sf = self.scale_factor(point.scale_factor) if point.scale_factor else None
        if sf is not None and sf == codec.SENTINELS[ModbusType.SUNSSF]:
            return codec.encode(point.type, None, point.word_order, point.length)
        raw = codec.to_raw(value, point.type, point.scale, sf)
        low, high = codec.raw_range(point.type)
        raw = min(max(raw, low), high)
        return codec.encode(point.type, raw, point.word_order, point.length)

    def decode_point(self, point: ModbusPoint, registers: list[int]) -> Value:
        raw = codec.decode(point.type, registers, point.word_order)
        if raw is None or isinstance(raw, str | bool) or point.type in (
                ModbusType.ENUM16, ModbusType.BITFIELD16, ModbusType.BITFIELD32):
            return raw
        sf = self.scale_factor(point.scale_factor) if point.scale_factor else None
        return codec.to_engineering(raw, point.scale, sf)

    def scale_factor(self, name: str) -> int:
        """The state's value for a sunssf point, else a default by the unit it scales."""
        value = self.state.get(name)
        if isinstance(value, int):
            return value
        user = next((p for p in self.profile.points if p.scale_factor == name), None)
        if user is None:
            return 0
        if user.register_count == 1 and user.unit in DEFAULT_SF_16BIT:
            return DEFAULT_SF_16BIT[user.unit]
        return DEFAULT_SF.get(user.unit, 0)


class _UnitsContext:
    """What pymodbus's request handler calls: one image per unit id."""

    def __init__(self, units: dict[int, ModbusUnit]) -> None:
        self.units = units
        self.delayed: set[asyncio.Task[Any]] = set()  # requests held back by delay_s

    def device_ids(self) -> list[int]:
        return list(self.units)

    async def _unit(self, device_id: int) -> ModbusUnit:
        unit = self.units.get(device_id)
        if unit is None or not unit.state.available:
            raise NoSuchIdException(f"no answer from unit {device_id}")  # silent, like RS-485
        task = asyncio.current_task()
        if unit.delay_s and task is not None:
            self.delayed.add(task)
            try:
                await asyncio.sleep(unit.delay_s)
            finally:
                self.delayed.discard(task)
        return unit

    async def async_getValues(self, device_id: int, func_code: int, address: int,
                              count: int = 1) -> list[int] | list[bool] | ExcCodes:
        unit = await self._unit(device_id)
        if unit.exception is not None:
            return ExcCodes(unit.exception)
        if unit.before_read is not None:
            unit.before_read()
        table = _TABLES[func_code]
        values = unit.read(table, address, count)
        if table in ("coil", "discrete") and isinstance(values, list):
            return [bool(v) for v in values]
        return values

    async def async_setValues(self, device_id: int, func_code: int, address: int,
                              values: Sequence[int] | Sequence[bool]) -> ExcCodes | None:
        unit = await self._unit(device_id)
        if unit.exception is not None:
            return ExcCodes(unit.exception)
        return unit.write(_TABLES[func_code], address, [int(v) for v in values])


def _constructor_datastore() -> SimDevice:
    """pymodbus 3.16 servers insist on a datastore when built; the context that really
    answers (all units, encoded from the device state) replaces it right after."""
    return SimDevice(1, simdata=[SimData(0, values=0, datatype=DataType.REGISTERS)])


class _Simulator:
    def __init__(self, units: dict[int, ModbusUnit]) -> None:
        for unit_id, unit in units.items():
            unit.serve_sunspec(unit_id)
        self.units = units
        self._context = _UnitsContext(units)
        self._server: ModbusTcpServer | ModbusSerialServer | None = None

    def _install(self, server: ModbusTcpServer | ModbusSerialServer) -> None:
        server.context = self._context  # type: ignore[assignment]
        self._server = server

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.stop()

    async def stop(self) -> None:
        delayed = list(self._context.delayed)
        for task in delayed:
            task.cancel()
        await asyncio.gather(*delayed, return_exceptions=True)
        if self._server is not None:
            await self._server.shutdown()  # type: ignore[no-untyped-call]
            self._server = None


class ModbusTcpSimulator(_Simulator):
    """A Modbus TCP server for one or more unit ids; port 0 binds a free port."""

    def __init__(self, units: dict[int, ModbusUnit], host: str = "127.0.0.1",
                 port: int = 0) -> None:
        super().__init__(units)
        self.host = host
        self.port = port

    async def start(self) -> None:
        server = ModbusTcpServer(_constructor_datastore(), address=(self.host, self.port),
                                 ignore_missing_devices=True)
        self._install(server)
        await server.serve_forever(background=True)
        transport: Any = server.transport
        self.port = int(transport.sockets[0].getsockname()[1])

    async def __aenter__(self) -> ModbusTcpSimulator:
        await self.start()
        return self


class ModbusRtuSimulator(_Simulator):
    """A Modbus RTU server on a serial port (the server end of a pty pair in the rig)."""

    def __init__(self, units: dict[int, ModbusUnit], port: str, baud: int = 9600,
                 parity: str = "N", stop_bits: int = 1) -> None:
        super().__init__(units)
        self.port = port
        self._serial = (baud, parity, stop_bits)

    async def start(self) -> None:
        baud, parity, stop_bits = self._serial
        server = ModbusSerialServer(_constructor_datastore(), framer=FramerType.RTU, port=self.port,
                                    baudrate=baud, parity=parity, stopbits=stop_bits,
                                    ignore_missing_devices=True)
        self._install(server)
        await server.serve_forever(background=True)
        await asyncio.sleep(0)  # let the transport finish its setup callback

    async def __aenter__(self) -> ModbusRtuSimulator:
        await self.start()
        return self
