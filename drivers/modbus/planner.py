"""Merges the points of a profile into as few block reads as possible.

One block is one Modbus request: one table, contiguous addresses, at most 125 registers
(2000 bits for coils and discrete inputs). Points closer than ``max_gap`` registers are
merged across the gap (only where the whole range is readable, e.g. inside a SunSpec
chain — a plain device may answer "illegal address" for a hole in its map).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

from drivers.profile import ModbusPoint

MAX_REGISTERS = 125
MAX_BITS = 2000


@dataclass(frozen=True)
class Slot:
    """A point at its absolute address."""

    point: ModbusPoint
    address: int

    @property
    def end(self) -> int:
        return self.address + self.point.register_count


Table = Literal["holding", "input", "coil", "discrete"]


@dataclass
class Block:
    table: Table
    start: int
    count: int
    slots: list[Slot] = field(default_factory=list)

    @property
    def end(self) -> int:
        return self.start + self.count

    @cached_property
    def spans(self) -> list[tuple[str, int, int]]:
        """(point name, first byte, byte after the last) of each slot in the read's data."""
        return [(s.point.name, 2 * (s.address - self.start), 2 * (s.end - self.start))
                for s in self.slots]


def plan_blocks(slots: list[Slot], max_gap: int = 0) -> list[Block]:
    """Blocks covering every slot, in address order, each within the request limit."""
    blocks: list[Block] = []
    for slot in sorted(slots, key=lambda s: (s.point.table, s.address)):
        table = slot.point.table
        limit = MAX_BITS if table in ("coil", "discrete") else MAX_REGISTERS
        last = blocks[-1] if blocks else None
        if (last is not None and last.table == table and slot.address <= last.end + max_gap
                and max(slot.end, last.end) - last.start <= limit):
            last.count = max(slot.end, last.end) - last.start
            last.slots.append(slot)
        else:
            blocks.append(Block(table, slot.address, slot.point.register_count, [slot]))
    return blocks
