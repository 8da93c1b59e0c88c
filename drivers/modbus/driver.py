"""The Modbus driver: a profile turned into block reads and range-checked writes.

One ``poll()`` reads every point in as few requests as the planner allows, decodes them
with the profile's types, word order, scales and SunSpec scale factors, and returns a
Reading per point. A device that does not answer becomes a fault (ERROR) and BAD readings;
an exception answer to one block spoils only that block's points (WARNING).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

from drivers import factory
from drivers.base import (
    DeviceFault,
    DriverError,
    FaultLevel,
    FaultTracker,
    Quality,
    Reading,
    WriteRejected,
    bad_readings,
    check_write,
)
from drivers.clock import Clock
from drivers.connection import ModbusRtuConnection, ModbusTcpConnection
from drivers.modbus import codec, sunspec
from drivers.modbus.client import LINKS, LinkRegistry, ModbusLink, SerialEndpoint, TcpEndpoint
from drivers.modbus.planner import Block, Slot, plan_blocks
from drivers.profile import ModbusPoint, ModbusProfile, ModbusType

log = logging.getLogger(__name__)

_RAW_TYPES = frozenset({ModbusType.ENUM16, ModbusType.BITFIELD16, ModbusType.BITFIELD32,
                        ModbusType.SUNSSF, ModbusType.STRING, ModbusType.BOOL})
LINK_DOWN = ("timeout", "unreachable", "short_answer", "protocol")
DEFAULT_REVERSION_S = 60


class ModbusDriver:
    """Driver of one Modbus device (one unit id on a TCP connection or a serial line)."""

    def __init__(self, device_id: str, profile: ModbusProfile, link: ModbusLink, unit: int,
                 clock: Clock, *, registry: LinkRegistry = LINKS, max_gap: int | None = None,
                 read_back: bool = True, reversion_s: int | None = None) -> None:
        self.device_id = device_id
        self.profile = profile
        self.unit = unit
        self._link = link
        self._registry = registry
        self._clock = clock
        self._max_gap = max_gap if max_gap is not None else (125 if profile.sunspec else 0)
        self._read_back = read_back
        self._reversion_s = reversion_s
        self._tracker = FaultTracker(device_id)
        self._addresses: dict[str, int] | None = None
        self._blocks: list[Block] = []
        self._missing: set[str] = set()
        self._unreadable: set[str] = set()  # illegal address when read alone
        self._scale_factors: dict[str, int | None] = {}
        self._commanded: set[str] = set()
        self._reported_no_value: set[str] = set()
        self._sf_names = [p.name for p in profile.points if p.type is ModbusType.SUNSSF]
        self._decoders = [(p.name, self._decoder_for(p)) for p in profile.points]
        self._stopped = False
        self.chain: sunspec.SunspecMap | None = None

    @property
    def fault(self) -> DeviceFault | None:
        return self._tracker.fault

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        try:
            await self._resolve()
        except DriverError as err:
            self._fail(err)

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        await self.revert()
        await self._registry.release(self._link)

    async def revert(self) -> None:
        for name in sorted(self._commanded):
            default = self.profile.point(name).safe_default
            if default is None or isinstance(default, str):
                continue
            try:
                await self.write(name, default)
            except DriverError as err:
                log.warning("device %s: could not revert %s to %s: %s",
                            self.device_id, name, default, err)
        self._commanded.clear()

    # -- reading ------------------------------------------------------------------------

    async def poll(self) -> dict[str, Reading]:
        try:
            await self._resolve()
        except DriverError as err:
            self._fail(err)
            return bad_readings(self.profile, self._clock.now())
        registers: dict[str, bytes] = {}
        failed: list[DriverError] = []
        try:
            for block in self._blocks:
                await self._read_block(block, registers, failed)
        except DriverError as err:
            self._fail(err)
            return bad_readings(self.profile, self._clock.now())
        if self._unreadable and any(s.point.name in self._unreadable
                                    for b in self._blocks for s in b.slots):
            self._plan()
        now = self._clock.now()
        readings = self._decode_all(registers, now)
        if failed and not registers:
            self._fail(failed[0])
        elif failed or self._unreadable:
            failed = failed or [DriverError(
                f"illegal data address for points {sorted(self._unreadable)}; the device's "
                "register map lacks them (check the profile)", code="exception_2")]
            first = failed[0]
            self._tracker.raise_fault(FaultLevel.WARNING, first.code,
                                      f"some points unreadable: {first}", now)
        elif self._missing:
            self._tracker.raise_fault(
                FaultLevel.WARNING, "sunspec_model_missing",
                f"the device lacks the SunSpec models of points {sorted(self._missing)}; "
                "check the profile against the device (temix-gateway discover modbus)", now)
        else:
            self._tracker.clear()
        return readings

    async def _read_block(self, block: Block, registers: dict[str, bytes],
                          failed: list[DriverError]) -> None:
        """Read one block into ``registers``; a link failure propagates.

        An "illegal address" answer to a merged block means a hole in the device's map:
        the block's points are read one by one and the unreadable ones left out of later
        plans (they read BAD with a WARNING fault).
        """
        try:
            values = await self._link.read(block.table, block.start, block.count, self.unit)
        except DriverError as err:
            if err.code in LINK_DOWN:
                raise
            err.address = block.start
            if len(block.slots) == 1:
                err.point = block.slots[0].point.name
            if err.code == "exception_2" and len(block.slots) > 1:
                alone: list[DriverError] = []
                for slot in block.slots:
                    single = Block(block.table, slot.address, slot.point.register_count, [slot])
                    await self._read_block(single, registers, alone)
                holes = [s.point.name for s in block.slots if s.point.name not in registers]
                if len(holes) < len(block.slots):  # a hole in the map, not a refusing device
                    self._unreadable.update(holes)
                failed.extend(alone)
                return
            failed.append(err)
            return
        data = codec.to_bytes(values)
        for name, first, after in block.spans:
            registers[name] = data[first:after]

    def _decode_all(self, registers: dict[str, bytes], now: Any) -> dict[str, Reading]:
        for name in self._sf_names:
            data = registers.get(name)
            if data is not None:
                raw = codec.decode_bytes(ModbusType.SUNSSF, data)
                self._scale_factors[name] = raw if isinstance(raw, int) else None
        readings: dict[str, Reading] = {}
        bad = Reading(None, Quality.BAD, now)
        for name, decoder in self._decoders:
            data = registers.get(name)
            if data is None:
                readings[name] = Reading(None, Quality.NO_VALUE, now) if name in \
                    self._missing else bad
                continue
            value = decoder(data)
            if value is None:
                readings[name] = Reading(None, Quality.NO_VALUE, now)
                if name not in self._reported_no_value:
                    self._reported_no_value.add(name)
                    log.info("device %s: point %s reads 'not implemented'",
                             self.device_id, name)
            else:
                readings[name] = Reading(value, Quality.GOOD, now)
        return readings

    def _engineering(self, point: ModbusPoint, data: bytes) -> Any:
        return self._decoder_for(point)(data)

    def _decoder_for(self, point: ModbusPoint) -> Callable[[bytes], Any]:
        """A function from a point's wire bytes to its engineering value (None = no value).

        Built once per point: the poll loop then runs one closure call per point.
        """
        kind, word_order, scale, sf_name = (point.type, point.word_order, point.scale,
                                            point.scale_factor)
        if kind in _RAW_TYPES:
            return lambda data: codec.decode_bytes(kind, data, word_order)
        factors = self._scale_factors
        unpack = codec.unpacker(kind)
        sentinel = codec.SENTINELS.get(kind)
        little = word_order != "big" and point.register_count > 1

        def decode(data: bytes) -> Any:
            if little:
                data = codec.swap_words(data)
            raw = unpack(data)[0]
            if raw == sentinel or raw != raw:  # a sentinel, or NaN
                return None
            sf = None
            if sf_name is not None:
                sf = factors.get(sf_name)
                if sf is None:
                    return None
            value = codec.to_engineering(raw, scale, sf)
            if value.__class__ is float and not math.isfinite(value):
                return None
            return value

        return decode

    # -- writing ------------------------------------------------------------------------

    async def write(self, point: str, value: float | int | bool) -> None:
        check_write(self.profile, self.device_id, point, value)
        spec: ModbusPoint = self.profile.point(point)
        if spec.table in ("input", "discrete"):
            raise WriteRejected(f"a {spec.table} point cannot be written",
                                device_id=self.device_id, point=point, code="read_only")
        await self._resolve()
        if point in self._missing:
            raise WriteRejected("the device does not implement this point's SunSpec model",
                                device_id=self.device_id, point=point, code="unknown_point")
        assert self._addresses is not None
        address = self._addresses[point]
        try:
            if spec.table == "coil":
                await self._link.write_coil(address, bool(value), self.unit)
                self._commanded.add(point)
                return
            registers = await self._encode_for_write(spec, value)
            reversion = sunspec.reversion_for(spec.model, spec.offset)
            if reversion is not None:
                await self._arm_reversion(reversion)
            await self._link.write_registers(address, registers, self.unit)
            self._commanded.add(point)
            if self._read_back:
                back = await self._link.read("holding", address, len(registers), self.unit)
                if back != registers:
                    raise DriverError(
                        f"wrote {value} but the device reads back "
                        f"{self._engineering(spec, codec.to_bytes(back))}; the device may "
                        "clamp or refuse it",
                        code="readback_mismatch")
        except DriverError as err:
            err.device_id, err.point, err.address = self.device_id, point, address
            raise

    async def _encode_for_write(self, spec: ModbusPoint, value: float | int | bool) -> list[int]:
        if spec.type in _RAW_TYPES:
            return codec.encode(spec.type, int(value), spec.word_order, spec.length)
        sf = await self._scale_factor_of(spec)
        raw = codec.to_raw(float(value), spec.type, spec.scale, sf)
        low, high = codec.raw_range(spec.type)
        if not low <= raw <= high:
            raise WriteRejected(f"value {value} does not fit a {spec.type} register "
                                f"(scale {spec.scale}, sf {sf})", device_id=self.device_id,
                                point=spec.name, code="out_of_range")
        return codec.encode(spec.type, raw, spec.word_order, spec.length)

    async def _scale_factor_of(self, spec: ModbusPoint) -> int | None:
        if spec.scale_factor is None:
            return None
        sf = self._scale_factors.get(spec.scale_factor)
        if sf is None:
            assert self._addresses is not None
            address = self._addresses[spec.scale_factor]
            raw = codec.decode(ModbusType.SUNSSF, await self._link.read("holding", address, 1,
                                                                        self.unit))
            sf = raw if isinstance(raw, int) else None
            if sf is None:
                raise DriverError("the device reports no scale factor for this point",
                                  code="no_scale_factor")
            self._scale_factors[spec.scale_factor] = sf
        return sf

    async def _arm_reversion(self, reversion: sunspec.Reversion) -> None:
        """Arm the 704 reversion before the setpoint: the command cannot latch."""
        chain = self.chain
        assert chain is not None
        timer = chain.address(reversion.model, reversion.timer_offset)
        enable = chain.address(reversion.model, reversion.reversion_enable_offset)
        if timer is None or enable is None:
            return
        await self._link.write_registers(enable, [0], self.unit)
        value_address = chain.address(reversion.model, reversion.reversion_value_offset)
        setpoint = next((p for p in self.profile.points if p.model == reversion.model
                         and p.offset == reversion.setpoint_offset), None)
        if value_address is not None and setpoint is not None and isinstance(
                setpoint.safe_default, int | float) and not isinstance(setpoint.safe_default,
                                                                        bool):
            sf = await self._scale_factor_of(setpoint)
            raw = codec.to_raw(float(setpoint.safe_default), reversion.reversion_value_type,
                               setpoint.scale, sf)
            await self._link.write_registers(
                value_address, codec.encode(reversion.reversion_value_type, raw), self.unit)
        seconds = self._reversion_seconds(reversion)
        await self._link.write_registers(timer, codec.encode(ModbusType.UINT32, seconds),
                                         self.unit)

    def _reversion_seconds(self, reversion: sunspec.Reversion) -> int:
        if self._reversion_s is not None:
            return self._reversion_s
        timer_point = next((p for p in self.profile.points if p.model == reversion.model
                            and p.offset == reversion.timer_offset), None)
        if timer_point is not None and isinstance(timer_point.safe_default, int | float):
            return int(timer_point.safe_default)
        return DEFAULT_REVERSION_S

    # -- addresses ----------------------------------------------------------------------

    async def _resolve(self) -> None:
        """Absolute addresses of every point (SunSpec discovery on first contact)."""
        if self._addresses is not None:
            return
        addresses: dict[str, int] = {}
        missing: set[str] = set()
        if self.profile.sunspec is not None:
            chain = await sunspec.discover(self._read_holding)
            if chain is None:
                raise DriverError("no SunSpec marker ('SunS') at register 40000, 0 or 50000; "
                                  "check the unit id and that the device speaks SunSpec",
                                  code="not_sunspec")
            self.chain = chain
        for point in self.profile.points:
            if point.address is not None:
                addresses[point.name] = point.address
                continue
            assert point.model is not None and point.offset is not None
            assert self.chain is not None
            address = self.chain.address(point.model, point.offset)
            model = self.chain.model(point.model)
            if address is None or model is None or point.offset + point.register_count > \
                    model.length:
                missing.add(point.name)
            else:
                addresses[point.name] = address
        self._missing = missing
        self._addresses = addresses
        self._plan()

    def _plan(self) -> None:
        assert self._addresses is not None
        slots = [Slot(self.profile.point(name), address)
                 for name, address in self._addresses.items() if name not in self._unreadable]
        self._blocks = plan_blocks(slots, self._max_gap)

    async def _read_holding(self, address: int, count: int) -> list[int]:
        return await self._link.read("holding", address, count, self.unit)

    def _fail(self, err: DriverError) -> None:
        self._tracker.raise_fault(FaultLevel.ERROR, err.code, str(err), self._clock.now())

    @property
    def blocks(self) -> list[Block]:
        """The planned block reads (after the first successful contact)."""
        return list(self._blocks)


def endpoint_of(connection: ModbusTcpConnection | ModbusRtuConnection
                ) -> TcpEndpoint | SerialEndpoint:
    if isinstance(connection, ModbusTcpConnection):
        return TcpEndpoint(connection.host, connection.port, connection.timeout_s)
    return SerialEndpoint(connection.port, connection.baud, connection.parity,
                          connection.stop_bits, connection.timeout_s)


def build_modbus_driver(device_id: str, connection: Any, profile: Any, clock: Clock,
                        **options: Any) -> ModbusDriver:
    """Factory entry: ``options`` may hold registry, max_gap, read_back, reversion_s."""
    if not isinstance(profile, ModbusProfile):
        raise ValueError(f"device {device_id}: profile {profile.name} is not a Modbus profile")
    registry: LinkRegistry = options.pop("registry", LINKS)
    link = registry.acquire(endpoint_of(connection))
    return ModbusDriver(device_id, profile, link, connection.unit, clock, registry=registry,
                        **options)


factory.register("modbus_tcp", build_modbus_driver)
factory.register("modbus_rtu", build_modbus_driver)
