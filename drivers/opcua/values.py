"""Engineering values ↔ OPC UA variable values, by the profile's scale and variant type."""

from __future__ import annotations

from typing import Any

from drivers.profile import OpcuaPoint, ValueType


def engineering(point: OpcuaPoint, raw: Any) -> Any:
    """A wire value in engineering units (raw × scale; bools and strings unchanged)."""
    if raw is None:
        return None
    if point.type is ValueType.BOOL:
        return bool(raw)
    if point.type is ValueType.STRING:
        return str(raw)
    if point.type in (ValueType.INT, ValueType.ENUM):
        return int(raw * point.scale) if point.scale != 1 else int(raw)
    return float(raw) * point.scale


def wire(point: OpcuaPoint, value: Any, variant_type: str | None = None) -> Any:
    """An engineering value as the Python value of a variant type (default: the point's)."""
    variant = variant_type or point.variant_type
    if variant == "Boolean":
        return bool(value)
    if variant == "String":
        return str(value)
    scaled = value / point.scale if point.scale != 1 else value
    if variant in ("Double", "Float"):
        return float(scaled)
    return round(scaled)
