"""Register <-> value encoding of Modbus points: data types, word order, scale, sentinels.

Pure functions, shared by the driver and by the HIL server, so both sides agree on every
bit. A register is an unsigned 16-bit int; bytes inside a register are big-endian (the
Modbus rule); ``word_order`` orders the registers of a multi-register value ("big" = most
significant register first, the Modbus/SunSpec convention).

Engineering value = raw × ``scale`` × 10^``sf`` (``sf`` from a SunSpec scale-factor point).
The SunSpec "not implemented" sentinels decode to ``None``, never to a number.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Sequence
from typing import Any

from drivers.profile import ModbusType

RawValue = int | float | str | bool

_STRUCT = {
    ModbusType.INT16: ">h",
    ModbusType.UINT16: ">H",
    ModbusType.SUNSSF: ">h",
    ModbusType.ENUM16: ">H",
    ModbusType.BITFIELD16: ">H",
    ModbusType.INT32: ">i",
    ModbusType.UINT32: ">I",
    ModbusType.ACC32: ">I",
    ModbusType.BITFIELD32: ">I",
    ModbusType.FLOAT32: ">f",
    ModbusType.INT64: ">q",
    ModbusType.UINT64: ">Q",
    ModbusType.ACC64: ">Q",
    ModbusType.FLOAT64: ">d",
}

# raw values that mean "not implemented" (SunSpec), per type
SENTINELS: dict[ModbusType, int] = {
    ModbusType.INT16: -0x8000,
    ModbusType.SUNSSF: -0x8000,
    ModbusType.UINT16: 0xFFFF,
    ModbusType.ENUM16: 0xFFFF,
    ModbusType.BITFIELD16: 0xFFFF,
    ModbusType.INT32: -0x80000000,
    ModbusType.UINT32: 0xFFFFFFFF,
    ModbusType.BITFIELD32: 0xFFFFFFFF,
    ModbusType.INT64: -0x8000000000000000,
    ModbusType.UINT64: 0xFFFFFFFFFFFFFFFF,
    ModbusType.ACC32: 0,
    ModbusType.ACC64: 0,
}

INTEGER_TYPES = frozenset(_STRUCT) - {ModbusType.FLOAT32, ModbusType.FLOAT64}


def register_count(kind: ModbusType, length: int | None = None) -> int:
    if length is not None:
        return length
    return struct.calcsize(_STRUCT[kind]) // 2 if kind in _STRUCT else 1


_STRUCTS = {kind: struct.Struct(form) for kind, form in _STRUCT.items()}


def to_bytes(registers: Sequence[int]) -> bytes:
    """Registers as the bytes on the wire (big-endian inside each register)."""
    return struct.pack(f">{len(registers)}H", *registers)


def decode(kind: ModbusType, registers: Sequence[int], word_order: str = "big") -> RawValue | None:
    """Raw value of a point from its registers; None for a not-implemented sentinel."""
    return decode_bytes(kind, to_bytes(registers), word_order)


def decode_bytes(kind: ModbusType, data: bytes, word_order: str = "big") -> RawValue | None:
    """:func:`decode` from wire bytes (a slice of a block read, decoded without copies)."""
    if kind is ModbusType.STRING:
        if not any(data):
            return None
        return data.split(b"\0", 1)[0].decode("utf-8", errors="replace").strip()
    if kind is ModbusType.BOOL:
        return any(data)
    if word_order != "big" and len(data) > 2:
        data = swap_words(data)
    raw = _STRUCTS[kind].unpack(data)[0]
    if isinstance(raw, float):
        return None if math.isnan(raw) else raw
    return None if SENTINELS.get(kind) == raw else raw


def swap_words(data: bytes) -> bytes:
    """Reverse the order of the 16-bit words (little word order <-> big)."""
    return b"".join(data[i:i + 2] for i in range(len(data) - 2, -1, -2))


def unpacker(kind: ModbusType) -> Callable[[bytes], tuple[Any, ...]]:
    """The struct unpack function of a numeric type (big-endian words)."""
    return _STRUCTS[kind].unpack


def encode(kind: ModbusType, raw: RawValue | None, word_order: str = "big",
           length: int | None = None) -> list[int]:
    """Registers of a raw value; None encodes the type's not-implemented sentinel."""
    if kind is ModbusType.STRING:
        size = 2 * register_count(kind, length)
        data = str(raw or "").encode("utf-8")[:size].ljust(size, b"\0")
        return [int.from_bytes(data[i:i + 2], "big") for i in range(0, size, 2)]
    if kind is ModbusType.BOOL:
        return [int(bool(raw))]
    if raw is None:
        raw = math.nan if kind not in INTEGER_TYPES else SENTINELS.get(kind, 0)
    value: int | float = float(raw) if kind not in INTEGER_TYPES else int(raw)
    data = struct.pack(_STRUCT[kind], value)
    words = [int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2)]
    return words if word_order == "big" else list(reversed(words))


def raw_range(kind: ModbusType) -> tuple[float, float]:
    """Lowest and highest raw value a type can carry (sentinels excluded where at an end)."""
    if kind in (ModbusType.FLOAT32, ModbusType.FLOAT64):
        return -math.inf, math.inf
    bits = 8 * struct.calcsize(_STRUCT[kind])
    signed = _STRUCT[kind][1].islower()
    low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2 ** bits - 1)
    sentinel = SENTINELS.get(kind)
    if sentinel == low:
        low += 1
    if sentinel == high:
        high -= 1
    return low, high


def to_engineering(raw: int | float, scale: float = 1.0, sf: int | None = None) -> float | int:
    """raw × scale × 10^sf, without binary noise (rounded to 10 decimals)."""
    if scale == 1.0 and not sf:
        return raw
    value = raw * scale
    if sf:
        value = value * 10.0 ** sf if sf > 0 else value / 10.0 ** -sf
    return round(value, 10)


def to_raw(value: float | int, kind: ModbusType, scale: float = 1.0,
           sf: int | None = None) -> int | float:
    """Inverse of :func:`to_engineering`; integer types are rounded to the nearest step."""
    raw = value / scale
    if sf:
        raw = raw / 10.0 ** sf if sf > 0 else raw * 10.0 ** -sf
    if kind in INTEGER_TYPES:
        return round(raw)
    return raw
