"""Register encoding: every data type both ways, word order, scale factors, sentinels;
and the block planner's merging within the 125-register limit."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.modbus import codec
from drivers.modbus.planner import MAX_REGISTERS, Slot, plan_blocks
from drivers.profile import ModbusPoint, ModbusType

T = ModbusType


@pytest.mark.parametrize(("kind", "value", "registers"), [
    (T.INT16, -2, [0xFFFE]),
    (T.UINT16, 65534, [0xFFFE]),
    (T.INT32, -2, [0xFFFF, 0xFFFE]),
    (T.UINT32, 0x12345678, [0x1234, 0x5678]),
    (T.INT64, -3, [0xFFFF, 0xFFFF, 0xFFFF, 0xFFFD]),
    (T.UINT64, 2 ** 40 + 5, [0x0000, 0x0100, 0x0000, 0x0005]),
    (T.FLOAT32, 1.5, [0x3FC0, 0x0000]),
    (T.FLOAT64, -2.0, [0xC000, 0, 0, 0]),
    (T.ACC32, 70000, [0x0001, 0x1170]),
    (T.ACC64, 1, [0, 0, 0, 1]),
    (T.ENUM16, 3, [3]),
    (T.BITFIELD16, 0b1010, [0b1010]),
    (T.BITFIELD32, 0x10002, [0x0001, 0x0002]),
    (T.SUNSSF, -3, [0xFFFD]),
])
def test_types_big_endian_words(kind: ModbusType, value: float, registers: list[int]) -> None:
    assert codec.encode(kind, value) == registers
    assert codec.decode(kind, registers) == value


def test_little_word_order_reverses_registers_not_bytes() -> None:
    assert codec.encode(T.UINT32, 0x12345678, "little") == [0x5678, 0x1234]
    assert codec.decode(T.UINT32, [0x5678, 0x1234], "little") == 0x12345678
    assert codec.decode(T.FLOAT32, codec.encode(T.FLOAT32, 230.5, "little"), "little") == 230.5


def test_strings_pad_with_nul_and_all_zero_is_no_value() -> None:
    registers = codec.encode(T.STRING, "SunS", length=4)
    assert registers == [0x5375, 0x6E53, 0, 0]
    assert codec.decode(T.STRING, registers) == "SunS"
    assert codec.decode(T.STRING, [0, 0]) is None


@pytest.mark.parametrize(("kind", "registers"), [
    (T.INT16, [0x8000]), (T.UINT16, [0xFFFF]), (T.ACC32, [0, 0]), (T.ACC64, [0, 0, 0, 0]),
    (T.INT32, [0x8000, 0]), (T.UINT32, [0xFFFF, 0xFFFF]), (T.FLOAT32, [0x7FC0, 0]),
    (T.SUNSSF, [0x8000]), (T.ENUM16, [0xFFFF]), (T.FLOAT64, [0x7FF8, 0, 0, 0]),
])
def test_not_implemented_sentinels_decode_to_none(kind: ModbusType,
                                                  registers: list[int]) -> None:
    assert codec.decode(kind, registers) is None


def test_none_encodes_the_sentinel() -> None:
    assert codec.encode(T.INT16, None) == [0x8000]
    assert codec.encode(T.UINT32, None) == [0xFFFF, 0xFFFF]
    assert codec.decode(T.FLOAT32, codec.encode(T.FLOAT32, None)) is None
    assert codec.decode(T.FLOAT32, codec.encode(T.FLOAT32, math.nan)) is None


def test_scale_and_scale_factor_compose_without_binary_noise() -> None:
    assert codec.to_engineering(12345, 0.001, -1) == 1.2345
    assert codec.to_engineering(4250, 0.001, 1) == 42.5
    assert codec.to_raw(42.5, T.INT16, 0.001, 1) == 4250
    assert codec.to_raw(-1.234, T.INT32, 0.001, None) == -1234


def test_raw_range_excludes_sentinels() -> None:
    assert codec.raw_range(T.INT16) == (-32767, 32767)
    assert codec.raw_range(T.UINT16) == (0, 65534)
    assert codec.raw_range(T.INT32) == (-(2 ** 31) + 1, 2 ** 31 - 1)


@given(st.integers(-32767, 32767), st.sampled_from([-3, -2, -1, 0, 1, 2]))
def test_int16_with_sf_round_trips(raw: int, sf: int) -> None:
    value = codec.to_engineering(raw, 1.0, sf)
    assert codec.to_raw(value, T.INT16, 1.0, sf) == raw


def _point(name: str, address: int, kind: ModbusType = T.UINT16, table: str = "holding",
           length: int | None = None) -> ModbusPoint:
    return ModbusPoint(name=name, address=address, type=kind, table=table,  # type: ignore[arg-type]
                       length=length)


def test_planner_merges_adjacent_and_splits_gaps_and_tables() -> None:
    slots = [Slot(p, p.address or 0) for p in (
        _point("a", 100), _point("b", 101, T.UINT32), _point("c", 103),
        _point("d", 110), _point("e", 100, table="input"),
    )]
    blocks = plan_blocks(slots)
    assert [(b.table, b.start, b.count) for b in blocks] == [
        ("holding", 100, 4), ("holding", 110, 1), ("input", 100, 1)]
    assert [(b.table, b.start, b.count) for b in plan_blocks(slots, max_gap=8)] == [
        ("holding", 100, 11), ("input", 100, 1)]


def test_planner_never_exceeds_125_registers() -> None:
    slots = [Slot(_point(f"p{i}", i * 10, T.STRING, length=10), i * 10) for i in range(40)]
    blocks = plan_blocks(slots)
    assert all(b.count <= MAX_REGISTERS for b in blocks)
    assert sum(b.count for b in blocks) == 400
    assert len(blocks) == 4
