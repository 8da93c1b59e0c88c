"""Device profiles: the point map of one device model, written once as data.

A profile lives in ``config/profiles/NAME.yaml``. The driver that talks to a real device
and the HIL simulator that imitates it are both built from it, so a register address, a
scale or a word order is written in exactly one place.

Point names are the device nature's canonical names (``power_kw``, ``soc_pct`` ...; see
:mod:`drivers.natures`), so the rest of the gateway never sees a protocol address.

Per protocol, a point's address is:

- ``modbus``: ``address`` (0-based register or coil number) in a ``table`` — or, for a
  SunSpec profile, ``model`` + ``offset`` (register offset inside the model's data block,
  resolved by discovery on the device or by the default layout of ``sunspec.models``);
- ``bacnet``: ``object`` (``analog-value,1``) and ``property`` (default present-value);
- ``opcua``: ``node_id`` (``ns=2;s=Battery.SoC``) or ``browse_path``;
- ``gpio``: ``role`` (the site file's ``connection.pins`` maps a role to a pin number).
"""

from __future__ import annotations

from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from drivers.yamldoc import ConfigError, Problem, YamlDocument, validate

PROFILE_DIR = Path(__file__).resolve().parent.parent / "config" / "profiles"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Access(StrEnum):
    READ = "r"
    READ_WRITE = "rw"
    WRITE = "w"


class ModbusType(StrEnum):
    INT16 = "int16"
    UINT16 = "uint16"
    INT32 = "int32"
    UINT32 = "uint32"
    INT64 = "int64"
    UINT64 = "uint64"
    FLOAT32 = "float32"
    FLOAT64 = "float64"
    STRING = "string"
    ACC32 = "acc32"
    ACC64 = "acc64"
    SUNSSF = "sunssf"
    ENUM16 = "enum16"
    BITFIELD16 = "bitfield16"
    BITFIELD32 = "bitfield32"
    BOOL = "bool"  # a coil or a discrete input


class ValueType(StrEnum):
    """Value types of BACnet, OPC UA and GPIO points."""

    FLOAT = "float"
    INT = "int"
    BOOL = "bool"
    ENUM = "enum"
    STRING = "string"


class PointBase(Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="canonical point name")
    description: str = ""
    unit: str = ""
    access: Access = Access.READ
    scale: float = Field(default=1.0, description="engineering value = raw × scale")
    minimum: float | None = Field(default=None, description="lowest value a write accepts")
    maximum: float | None = Field(default=None, description="highest value a write accepts")
    safe_default: float | bool | str | None = Field(
        default=None, description="value written when the gateway stops commanding"
    )

    @model_validator(mode="after")
    def _range(self) -> PointBase:
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ValueError(f"minimum {self.minimum} is above maximum {self.maximum}")
        if self.scale == 0:
            raise ValueError("scale must not be 0")
        return self


class ModbusPoint(PointBase):
    type: ModbusType
    table: Literal["holding", "input", "coil", "discrete"] = "holding"
    address: int | None = Field(default=None, ge=0, le=65535)
    model: int | None = Field(default=None, ge=1, le=65535, description="SunSpec model id")
    offset: int | None = Field(default=None, ge=0, description="register offset in the model")
    length: int | None = Field(default=None, ge=1, le=125, description="registers (strings)")
    word_order: Literal["big", "little"] = "big"
    scale_factor: str | None = Field(default=None, description="name of a sunssf point")

    @model_validator(mode="after")
    def _address(self) -> ModbusPoint:
        if (self.address is None) == (self.model is None or self.offset is None):
            raise ValueError("give either 'address', or 'model' and 'offset' (SunSpec)")
        if self.type is ModbusType.STRING and self.length is None:
            raise ValueError("a string point needs 'length' (registers)")
        if self.type is ModbusType.BOOL and self.table not in ("coil", "discrete"):
            raise ValueError("a bool point lives in the 'coil' or 'discrete' table")
        return self

    @property
    def register_count(self) -> int:
        """How many 16-bit registers (or bits) the point occupies."""
        if self.length is not None:
            return self.length
        return _REGISTERS.get(self.type, 1)


_REGISTERS = {
    ModbusType.INT32: 2,
    ModbusType.UINT32: 2,
    ModbusType.FLOAT32: 2,
    ModbusType.ACC32: 2,
    ModbusType.BITFIELD32: 2,
    ModbusType.INT64: 4,
    ModbusType.UINT64: 4,
    ModbusType.FLOAT64: 4,
    ModbusType.ACC64: 4,
}


class BacnetPoint(PointBase):
    type: ValueType
    object: str = Field(pattern=r"^[a-z-]+,\d+$", description="object type and instance")
    property: str = "present-value"
    commandable: bool = False


class OpcuaPoint(PointBase):
    type: ValueType
    node_id: str | None = None
    browse_path: list[str] | None = None
    variant_type: Literal["Double", "Float", "Int16", "Int32", "Int64", "UInt16", "UInt32",
                          "Boolean", "String"] = "Double"

    @model_validator(mode="after")
    def _address(self) -> OpcuaPoint:
        if (self.node_id is None) == (self.browse_path is None):
            raise ValueError("give exactly one of 'node_id' or 'browse_path'")
        return self


class GpioPoint(PointBase):
    type: Literal[ValueType.BOOL] = ValueType.BOOL
    role: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="pin role named in the site")
    direction: Literal["input", "output"]
    pulse_ms: int | None = Field(
        default=None, ge=1, le=10_000, description="pulse length; absent = maintained output"
    )
    debounce_ms: int = Field(default=20, ge=0, le=5_000)


class SunspecModel(Strict):
    id: int = Field(ge=1, le=65535)
    length: int = Field(ge=0, le=65535, description="L: registers after the 2-word header")


class SunspecLayout(Strict):
    base: Literal[0, 40000, 50000] = 40000
    models: list[SunspecModel] = Field(min_length=1)


Nature = Literal[
    "meter", "load", "storage", "pv", "generator", "breaker", "grid_sense", "ev_charger",
    "hvac_zone", "lighting",
]


class ProfileBase(Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    description: str
    nature: Nature
    vendor_sheet: str = Field(default="", description="the register sheet this map follows")

    def point(self, name: str) -> Any:
        for point in self.points:  # type: ignore[attr-defined]
            if point.name == name:
                return point
        raise KeyError(f"profile {self.name} has no point {name!r}")


class ModbusProfile(ProfileBase):
    protocol: Literal["modbus"]
    sunspec: SunspecLayout | None = None
    points: list[ModbusPoint] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> ModbusProfile:
        names = [p.name for p in self.points]
        _no_duplicates(names)
        models = {m.id: m.length for m in self.sunspec.models} if self.sunspec else {}
        for point in self.points:
            if point.scale_factor is not None and point.scale_factor not in names:
                raise ValueError(f"point {point.name}: scale_factor {point.scale_factor!r} "
                                 "is not a point of this profile")
            if point.model is not None:
                if point.model not in models:
                    raise ValueError(f"point {point.name}: model {point.model} is not listed "
                                     "in sunspec.models")
                assert point.offset is not None
                if point.offset + point.register_count > models[point.model]:
                    raise ValueError(f"point {point.name}: offset {point.offset} runs past "
                                     f"the end of model {point.model} (length "
                                     f"{models[point.model]})")
        return self


class BacnetProfile(ProfileBase):
    protocol: Literal["bacnet"]
    points: list[BacnetPoint] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> BacnetProfile:
        _no_duplicates([p.name for p in self.points])
        return self


class OpcuaProfile(ProfileBase):
    protocol: Literal["opcua"]
    points: list[OpcuaPoint] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> OpcuaProfile:
        _no_duplicates([p.name for p in self.points])
        return self


class GpioProfile(ProfileBase):
    protocol: Literal["gpio"]
    points: list[GpioPoint] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> GpioProfile:
        _no_duplicates([p.name for p in self.points])
        _no_duplicates([p.role for p in self.points])
        return self


def _no_duplicates(names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"'{name}' is defined twice")
        seen.add(name)


Profile = ModbusProfile | BacnetProfile | OpcuaProfile | GpioProfile
PROFILE_CLASSES: dict[str, type[ModbusProfile | BacnetProfile | OpcuaProfile | GpioProfile]] = {
    "modbus": ModbusProfile,
    "bacnet": BacnetProfile,
    "opcua": OpcuaProfile,
    "gpio": GpioProfile,
}


def resolve_profile_path(reference: str, relative_to: Path | None = None) -> Path:
    """A profile reference is a name in config/profiles/ or a path to a YAML file."""
    if reference.endswith((".yaml", ".yml")) or "/" in reference:
        path = Path(reference)
        if not path.is_absolute() and relative_to is not None:
            path = relative_to / path
        return path
    return PROFILE_DIR / f"{reference}.yaml"


def load_profile(path: Path) -> Profile:
    """Load and validate one profile file; ConfigError names file and line on failure."""
    return _load_profile_cached(path.resolve())


@cache
def _load_profile_cached(path: Path) -> Profile:
    doc = YamlDocument.load(path)
    if not isinstance(doc.data, dict):
        raise ConfigError([Problem(path, 1, 1, "", "a profile must be a YAML mapping")])
    protocol = doc.data.get("protocol")
    model = PROFILE_CLASSES.get(str(protocol))
    if model is None:
        raise ConfigError([doc.problem(
            ("protocol",),
            f"protocol must be one of {', '.join(PROFILE_CLASSES)} (got {protocol!r})",
        )])
    return validate(doc, model)
