"""BACnet engineering units ↔ the unit strings profiles use (written once)."""

from __future__ import annotations

PROFILE_UNITS = {
    "degC": "degrees-celsius",
    "kW": "kilowatts",
    "kWh": "kilowatt-hours",
    "%": "percent",
    "W": "watts",
    "V": "volts",
    "A": "amperes",
    "Hz": "hertz",
    "Pa": "pascals",
}
BACNET_UNITS = {bacnet: unit for unit, bacnet in PROFILE_UNITS.items()}
