"""SunSpec: find the model chain on a device, resolve model+offset points, map models to natures.

Discovery reads the "SunS" marker at base 40000, then 0, then 50000 (with the first model
header in the same request), and walks the model headers (ID, L) from base+2 until ID
0xFFFF. A profile point written as ``model`` +
``offset`` resolves to ``data address of that model + offset``.

Setpoints of model 704 have reversion timers: before a setpoint is written the driver
arms the timer (see :data:`REVERSIONS`), so a gateway that dies never latches a command.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from drivers.base import DriverError
from drivers.modbus.codec import decode
from drivers.profile import ModbusType, SunspecLayout

MARKER = (0x5375, 0x6E53)  # "SunS"
BASES = (40000, 0, 50000)
END_ID = 0xFFFF
MAX_MODELS = 64  # a chain longer than this is a broken device, not a real one

ReadHolding = Callable[[int, int], Awaitable[list[int]]]


@dataclass(frozen=True)
class ModelEntry:
    id: int
    header_address: int  # where ID sits; the data block starts 2 registers later
    length: int

    @property
    def data_address(self) -> int:
        return self.header_address + 2


@dataclass(frozen=True)
class SunspecMap:
    base: int
    models: tuple[ModelEntry, ...]

    def model(self, model_id: int) -> ModelEntry | None:
        return next((m for m in self.models if m.id == model_id), None)

    def address(self, model_id: int, offset: int) -> int | None:
        """Absolute register of ``offset`` inside the first instance of a model."""
        entry = self.model(model_id)
        if entry is None or offset >= entry.length:
            return None
        return entry.data_address + offset

    @property
    def ids(self) -> list[int]:
        return [m.id for m in self.models]

    @property
    def end(self) -> int:
        """First register after the chain's end marker."""
        last = self.models[-1] if self.models else None
        return (last.data_address + last.length if last else self.base + 2) + 2


def layout_map(layout: SunspecLayout) -> SunspecMap:
    """The chain a profile's ``sunspec`` section describes (a device built to the profile)."""
    entries = []
    address = layout.base + 2
    for model in layout.models:
        entries.append(ModelEntry(model.id, address, model.length))
        address += 2 + model.length
    return SunspecMap(layout.base, tuple(entries))


async def discover(read: ReadHolding) -> SunspecMap | None:
    """The device's model chain, or None when no base carries the "SunS" marker.

    The marker and the first model header are read in one request (a chain always has a
    header after its marker, if only the end marker); a device that refuses the four
    registers is asked for the marker alone. A link failure (timeout, unreachable)
    propagates: the device may be SunSpec but down.
    """
    for base in BASES:
        head = await _registers_or_none(read, base, 4)
        if head is None:
            head = await _registers_or_none(read, base, 2)
        if head is not None and tuple(head[:2]) == MARKER:
            return await _walk(read, base, head[2:4])
    return None


async def _registers_or_none(read: ReadHolding, address: int, count: int) -> list[int] | None:
    """The registers, or None when the device answers with a Modbus exception."""
    try:
        return await read(address, count)
    except DriverError as err:
        if err.code.startswith("exception_"):
            return None
        raise


async def _walk(read: ReadHolding, base: int, first_header: list[int]) -> SunspecMap:
    entries: list[ModelEntry] = []
    address = base + 2
    header = first_header
    for _ in range(MAX_MODELS):
        model_id, length = header if len(header) == 2 else await read(address, 2)
        if model_id == END_ID:
            return SunspecMap(base, tuple(entries))
        entries.append(ModelEntry(model_id, address, length))
        address += 2 + length
        header = []
    raise DriverError(f"SunSpec chain at {base} has no end marker after {MAX_MODELS} models",
                      address=base, code="sunspec_chain")


async def read_common(read: ReadHolding, chain: SunspecMap) -> dict[str, str]:
    """Manufacturer, model, version and serial number from common model 1."""
    common = chain.model(1)
    if common is None:
        return {}
    registers = await read(common.data_address, min(common.length, 64))
    fields = {"manufacturer": (0, 16), "model": (16, 16), "version": (40, 8),
              "serial_number": (48, 16)}
    return {name: str(decode(ModbusType.STRING, registers[start:start + size]) or "")
            for name, (start, size) in fields.items()}


# -- models -> natures and shipped profiles -------------------------------------------------

MODEL_NATURES: dict[int, str] = {
    **dict.fromkeys((101, 102, 103, 111, 112, 113, 701, 702, 704), "pv"),
    **dict.fromkeys((124, 713, 802), "storage"),
    **dict.fromkeys((201, 202, 203, 204, 211, 212, 213, 214), "meter"),
}
SHIPPED_PROFILES: tuple[tuple[frozenset[int], str], ...] = (
    (frozenset({802}), "sunspec-storage-802"),
    (frozenset({701, 704}), "sunspec-inverter-701-704"),
    (frozenset({213}), "sunspec-meter-213"),
    (frozenset({203}), "sunspec-meter-203"),
)


def nature_of(model_ids: list[int]) -> str | None:
    """The nature a device with these models has (storage wins over pv: a hybrid)."""
    natures = {MODEL_NATURES[m] for m in model_ids if m in MODEL_NATURES}
    for nature in ("storage", "meter", "pv"):
        if nature in natures:
            return nature
    return None


def shipped_profile(model_ids: list[int]) -> str | None:
    present = set(model_ids)
    return next((name for needed, name in SHIPPED_PROFILES if needed <= present), None)


# -- reversion timers -----------------------------------------------------------------------


@dataclass(frozen=True)
class Reversion:
    """A 704 control function: its setpoint, its reversion registers and its timer."""

    model: int
    controls: frozenset[int]  # offsets whose write arms the timer (enable, mode, setpoint)
    setpoint_offset: int
    reversion_value_offset: int
    reversion_value_type: ModbusType
    reversion_enable_offset: int  # enum16: 0 = the function is off after reversion
    timer_offset: int  # uint32 seconds


REVERSIONS: tuple[Reversion, ...] = (
    Reversion(704, frozenset({12, 13}), 13, 14, ModbusType.UINT16, 15, 16),  # WMaxLimPct
    Reversion(704, frozenset({20, 21, 22, 26}), 22, 24, ModbusType.INT32, 28, 29),  # WSet
    Reversion(704, frozenset({33, 34, 35, 36, 40}), 36, 38, ModbusType.INT32, 42, 43),  # VarSet
)


def reversion_for(model: int | None, offset: int | None) -> Reversion | None:
    return next((r for r in REVERSIONS if r.model == model and offset in r.controls), None)
