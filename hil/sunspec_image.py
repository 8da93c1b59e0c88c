"""The fixed registers of a simulated SunSpec device, generated from its profile.

The "SunS" marker at the base, each model's header (ID, L) where the profile's
``sunspec.models`` puts it, the end marker (0xFFFF, 0) after the last model, and common
model 1 (manufacturer, model, version, serial number, device address). Point values are
not here: the Modbus server encodes them from the device state on every request.
"""

from __future__ import annotations

from drivers.modbus import codec, sunspec
from drivers.profile import ModbusProfile, ModbusType

MANUFACTURER = "TeMIX HIL"


def sunspec_registers(profile: ModbusProfile, unit: int, serial_number: str) -> dict[int, int]:
    """address -> register for the marker, model headers, end marker and model 1."""
    assert profile.sunspec is not None
    chain = sunspec.layout_map(profile.sunspec)
    registers: dict[int, int] = dict(zip((chain.base, chain.base + 1), sunspec.MARKER,
                                         strict=True))
    for model in chain.models:
        registers[model.header_address] = model.id
        registers[model.header_address + 1] = model.length
        for offset in range(model.length):
            registers.setdefault(model.data_address + offset, 0)
    end = chain.end - 2
    registers[end], registers[end + 1] = sunspec.END_ID, 0
    common = chain.model(1)
    if common is not None:
        fields = ((0, 16, MANUFACTURER), (16, 16, profile.name), (32, 8, ""), (40, 8, "1.0"),
                  (48, 16, serial_number))
        for start, length, text in fields:
            words = codec.encode(ModbusType.STRING, text, length=length)
            for i, word in enumerate(words):
                registers[common.data_address + start + i] = word
        if common.length > 64:
            registers[common.data_address + 64] = unit
    return registers

