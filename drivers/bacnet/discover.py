"""BACnet discovery: Who-Is, then each device's objects, written out as a profile draft.

The result is a profile (one point per analog/binary/multi-state object, named after the
object name, commandable where the object has a priority array) and a site-file device
entry, ready to paste. Point names are slugs of the object names; the facility manager
renames them to the nature's canonical names (``power_kw`` ...) where they differ.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from bacpypes3.basetypes import EngineeringUnits
from ruamel.yaml import YAML
from ruamel.yaml.compat import StringIO

from drivers.bacnet.stack import BacnetRequestError, BacnetStack, DeviceIdentity
from drivers.bacnet.units import BACNET_UNITS

POINT_TYPES = {"analog": "float", "binary": "bool", "multi-state": "int"}


@dataclass(frozen=True)
class DiscoveredObject:
    object_id: str  # "analog-value,1"
    name: str
    units: str
    commandable: bool

    @property
    def family(self) -> str | None:
        kind = self.object_id.partition(",")[0]
        for family in POINT_TYPES:
            if kind.startswith(family + "-"):
                return family
        return None


@dataclass(frozen=True)
class DiscoveredDevice:
    identity: DeviceIdentity
    name: str
    objects: list[DiscoveredObject] = field(default_factory=list)


async def discover(stack: BacnetStack, *, timeout_s: float = 3.0, low: int | None = None,
                   high: int | None = None) -> list[DiscoveredDevice]:
    """Every device answering a global Who-Is, with its point objects."""
    found = await stack.who_is(timeout_s, low, high)
    devices = []
    for instance, address in found:
        try:
            devices.append(await describe(stack, address, instance, timeout_s))
        except BacnetRequestError as err:
            raise BacnetRequestError(err.kind, f"device {instance} at {address}: "
                                               f"{err.reason}") from None
    return devices


async def describe(stack: BacnetStack, address: str, instance: int,
                   timeout_s: float) -> DiscoveredDevice:
    identity = await stack.identify(address, instance, timeout_s)
    device = f"device,{instance}"
    name = str(await stack.read(address, device, "object-name", timeout_s))
    objects = []
    for object_id in await _object_list(stack, address, device, timeout_s):
        kind = object_id.partition(",")[0]
        if not any(kind.startswith(f + "-") for f in POINT_TYPES):
            continue
        objects.append(await _describe_object(stack, address, object_id, timeout_s))
    return DiscoveredDevice(identity, name, objects)


async def _object_list(stack: BacnetStack, address: str, device: str,
                       timeout_s: float) -> list[str]:
    try:
        items = await stack.read(address, device, "object-list", timeout_s)
    except BacnetRequestError as err:
        if err.kind not in ("abort", "error"):
            raise
        count = int(await stack.read(address, device, "object-list", timeout_s, 0))
        items = [await stack.read(address, device, "object-list", timeout_s, index)
                 for index in range(1, count + 1)]
    return [_object_id(item) for item in items]


def _object_id(item: Any) -> str:
    kind, number = item
    return f"{kind},{int(number)}"


async def _describe_object(stack: BacnetStack, address: str, object_id: str,
                           timeout_s: float) -> DiscoveredObject:
    kind = object_id.partition(",")[0]
    name = str(await stack.read(address, object_id, "object-name", timeout_s))
    units = ""
    if kind.startswith("analog"):
        try:
            raw = await stack.read(address, object_id, "units", timeout_s)
            units = BACNET_UNITS.get(str(EngineeringUnits(int(raw))), "")
        except BacnetRequestError:
            units = ""
    commandable = kind.endswith("-output")
    if not commandable and kind.endswith("-value"):
        try:
            await stack.read(address, object_id, "priority-array", timeout_s, 0)
            commandable = True
        except BacnetRequestError:
            commandable = False
    return DiscoveredObject(object_id, name, units, commandable)


def slug(text: str) -> str:
    name = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    if not name or not name[0].isalpha():
        name = f"point_{name}" if name else "point"
    return name


def profile_document(device: DiscoveredDevice, *, profile_name: str,
                     nature: str) -> dict[str, Any]:
    """The profile draft of a device (validates as a BacnetProfile)."""
    points: list[dict[str, Any]] = []
    used: set[str] = set()
    for obj in device.objects:
        family = obj.family
        if family is None:
            continue
        name = base = slug(obj.name)
        number = 2
        while name in used:
            name, number = f"{base}_{number}", number + 1
        used.add(name)
        point: dict[str, Any] = {"name": name, "object": obj.object_id,
                                 "type": POINT_TYPES[family]}
        if obj.units:
            point["unit"] = obj.units
        if obj.commandable:
            point.update(access="rw", commandable=True)
        if obj.name != name:
            point["description"] = obj.name
        points.append(point)
    return {
        "name": profile_name,
        "description": f"{device.name} (discovered BACnet device {device.identity.instance}, "
                       f"vendor {device.identity.vendor_id})",
        "protocol": "bacnet",
        "nature": nature,
        "points": points,
    }


def device_entry(device: DiscoveredDevice, *, profile_name: str, nature: str) -> dict[str, Any]:
    """The site-file ``devices:`` entry for a discovered device."""
    return {
        "id": slug(device.name),
        "nature": nature,
        "profile": profile_name,
        "connection": {"kind": "bacnet", "address": device.identity.address,
                       "device_instance": device.identity.instance},
    }


def render(devices: list[DiscoveredDevice], *, nature: str) -> str:
    """Every device as a profile document and a device entry: one YAML stream."""
    out = StringIO()
    yaml = YAML()
    yaml.default_flow_style = False
    yaml.width = 100
    for device in devices:
        ident = device.identity
        profile_name = f"bacnet-{slug(device.name).replace('_', '-')}"
        out.write(f"---\n# BACnet device {ident.instance} at {ident.address}: {device.name!r} "
                  f"(max APDU {ident.max_apdu}, {ident.segmentation})\n")
        out.write(f"# Profile: save as config/profiles/{profile_name}.yaml and rename points\n"
                  "# to the nature's canonical names (power_kw, setpoint_c ...).\n")
        yaml.dump(profile_document(device, profile_name=profile_name, nature=nature), out)
        out.write("---\n# Device entry: paste under 'devices:' in the site file.\n")
        yaml.dump([device_entry(device, profile_name=profile_name, nature=nature)], out)
    return out.getvalue()
