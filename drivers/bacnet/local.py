"""A BACnet/IP device application built from a profile: the server side of bacpypes3.

The HIL rig and the benchmarks serve simulated devices with it, so the object map is the
same profile the driver reads. Each point becomes one object: commandable points get a
16-slot priority array (present value = highest non-NULL slot, else Relinquish_Default),
read-only points refuse writes with ``write-access-denied``.

Test seams a real device also shows: ``available = False`` drops every request (the
device is unplugged), ``response_delay_s`` answers late, ``answer_with`` answers every
confirmed request with a Reject or an Abort, ``refuse_cov`` refuses SubscribeCOV.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, Literal

from bacpypes3.apdu import AbortPDU, ConfirmedRequestPDU, RejectPDU, WritePropertyRequest
from bacpypes3.app import Application
from bacpypes3.basetypes import HostNPort, IPMode
from bacpypes3.errors import ExecutionError, PropertyError
from bacpypes3.local.analog import (
    AnalogInputObject,
    AnalogOutputObject,
    AnalogValueObject,
    AnalogValueObjectCmd,
)
from bacpypes3.local.binary import (
    BinaryInputObject,
    BinaryOutputObject,
    BinaryValueObject,
    BinaryValueObjectCmd,
)
from bacpypes3.local.device import DeviceObject
from bacpypes3.local.multistate import (
    MultiStateInputObject,
    MultiStateOutputObject,
    MultiStateValueObject,
)
from bacpypes3.local.networkport import NetworkPortObject
from bacpypes3.primitivedata import ObjectIdentifier

from drivers.bacnet.ports import claim_udp_port
from drivers.bacnet.units import PROFILE_UNITS
from drivers.profile import BacnetPoint, ValueType

log = logging.getLogger(__name__)

PointWrite = Callable[[str, Any], None]
Answer = Literal["reject", "abort"] | None

_ANALOG = {"analog-input", "analog-output", "analog-value"}
_CLASSES: dict[tuple[str, bool], Any] = {
    ("analog-input", False): AnalogInputObject,
    ("analog-output", True): AnalogOutputObject,
    ("analog-value", False): AnalogValueObject,
    ("analog-value", True): AnalogValueObjectCmd,
    ("binary-input", False): BinaryInputObject,
    ("binary-output", True): BinaryOutputObject,
    ("binary-value", False): BinaryValueObject,
    ("binary-value", True): BinaryValueObjectCmd,
    ("multi-state-input", False): MultiStateInputObject,
    ("multi-state-output", True): MultiStateOutputObject,
    ("multi-state-value", False): MultiStateValueObject,
}


class _DeviceApplication(Application):  # type: ignore[misc]
    """bacpypes3's Application with the seams of a misbehaving device."""

    owner: LocalBacnetDevice

    async def indication(self, apdu: Any) -> None:
        owner = self.owner
        if not owner.available:
            return
        if owner.response_delay_s > 0:
            task = asyncio.current_task()
            assert task is not None
            owner.delayed.add(task)
            try:
                await asyncio.sleep(owner.response_delay_s)
            finally:
                owner.delayed.discard(task)
            if not owner.available:
                return
        if owner.answer_with is not None and isinstance(apdu, ConfirmedRequestPDU):
            if owner.answer_with == "reject":
                answer = RejectPDU(reason="unrecognized-service", context=apdu)
            else:
                answer = AbortPDU(srv=True, reason="other", context=apdu)
            await self.response(answer)
            return
        owner.requests[type(apdu).__name__] += 1
        owner.before_request()
        await super().indication(apdu)

    async def do_WritePropertyRequest(self, apdu: WritePropertyRequest) -> None:
        point = self.owner.point_of(apdu.objectIdentifier)
        if point is not None and point.access == "r" and not point.commandable:
            raise PropertyError("writeAccessDenied")
        await super().do_WritePropertyRequest(apdu)
        if point is not None:
            self.owner.written(point)

    async def do_SubscribeCOVRequest(self, apdu: Any) -> None:
        owner = self.owner
        if apdu.lifetime is not None:
            owner.cov_lifetimes.append(int(apdu.lifetime))
        if owner.refuse_cov:
            raise ExecutionError(errorClass="services", errorCode="covSubscriptionFailed")
        await super().do_SubscribeCOVRequest(apdu)

    def cov_notification(self, cov: Any, apdu: Any) -> None:
        if self.owner.available:
            super().cov_notification(cov, apdu)


class LocalBacnetDevice:
    """One simulated BACnet/IP device on its own UDP port.

    ``address`` carries the prefix (``127.0.0.1/8:47811``) so the device has a broadcast
    socket. ``role`` is "bbmd" (accepts foreign-device registrations and forwards
    broadcasts), "foreign" (registers with ``bbmd_address``) or "normal".
    """

    def __init__(self, *, instance: int, name: str, address: str,
                 points: Sequence[BacnetPoint], on_write: PointWrite,
                 before_request: Callable[[], None] = lambda: None,
                 is_available: Callable[[], bool] = lambda: True,
                 role: Literal["normal", "bbmd", "foreign"] = "normal",
                 bbmd_address: str | None = None, registration_ttl_s: int = 300,
                 max_apdu: int = 1024, segmentation: str = "segmented-both") -> None:
        if role == "foreign" and not bbmd_address:
            raise ValueError("a foreign device needs bbmd_address")
        self.instance = instance
        self.name = name
        self.address = address
        self.points = list(points)
        self.on_write = on_write
        self.before_request = before_request
        self.role = role
        self.bbmd_address = bbmd_address
        self.registration_ttl_s = registration_ttl_s
        self.max_apdu = max_apdu
        self.segmentation = segmentation
        self._is_available = is_available
        self._available = True
        self.response_delay_s = 0.0
        self.answer_with: Answer = None
        self.refuse_cov = False
        self.delayed: set[asyncio.Task[Any]] = set()  # requests waiting out response_delay_s
        self.cov_lifetimes: list[int] = []  # lifetime of every SubscribeCOV received
        self.requests: Counter[str] = Counter()  # requests answered, by APDU class name
        self._objects: dict[str, Any] = {}
        self._by_id: dict[str, BacnetPoint] = {}
        self._app: _DeviceApplication | None = None

    @property
    def available(self) -> bool:
        return self._available and self._is_available()

    @available.setter
    def available(self, value: bool) -> None:
        self._available = value

    async def start(self, initial: dict[str, Any]) -> None:
        """Bind the port and answer requests; ``initial`` holds engineering values."""
        claim_udp_port(self.address)
        device = DeviceObject(objectIdentifier=("device", self.instance), objectName=self.name,
                              vendorIdentifier=999, maxApduLengthAccepted=self.max_apdu,
                              segmentationSupported=self.segmentation)
        port = NetworkPortObject(self.address, objectIdentifier=("network-port", 1),
                                 objectName="NetworkPort-1")
        if self.role == "bbmd":
            port.bacnetIPMode = IPMode.bbmd
            port.bbmdAcceptFDRegistrations = True
            port.bbmdForeignDeviceTable = []
            port.bbmdBroadcastDistributionTable = []
        elif self.role == "foreign":
            port.bacnetIPMode = IPMode.foreign
            port.fdBBMDAddress = HostNPort(self.bbmd_address)
            port.fdSubscriptionLifetime = self.registration_ttl_s
        app = _DeviceApplication.from_object_list([device, port])
        app.owner = self
        for point in self.points:
            obj = self._make_object(point, initial.get(point.name))
            app.add_object(obj)
            self._objects[point.name] = obj
            self._by_id[str(obj.objectIdentifier)] = point
        self._app = app
        for link in app.link_layers.values():
            await link.server._local_transport_ready.wait()

    async def registered(self, timeout_s: float) -> bool:
        """Wait until the BBMD confirmed our foreign-device registration."""
        if self._app is None or self.role != "foreign":
            return True
        try:
            for link in self._app.link_layers.values():
                await asyncio.wait_for(link._registration_event.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    def close(self) -> None:
        for task in self.delayed:
            task.cancel()
        if self._app is None:
            return
        for link in self._app.link_layers.values():
            if hasattr(link, "_stop_tracking_registration"):
                link._stop_tracking_registration()
        self._app.close()
        self._app = None

    def _make_object(self, point: BacnetPoint, value: Any) -> Any:
        object_type, _, number = point.object.partition(",")
        commandable = point.commandable or object_type.endswith("-output")
        cls = _CLASSES.get((object_type, commandable))
        if cls is None:
            raise ValueError(f"point {point.name}: object type {object_type} "
                             f"{'(commandable) ' if commandable else ''}is not simulated")
        raw = self._raw(point, point.safe_default if value is None else value)
        kwargs: dict[str, Any] = {
            "objectIdentifier": (object_type, int(number)),
            "objectName": point.name,
            "presentValue": raw,
            "statusFlags": [0, 0, 0, 0],
            "eventState": "normal",
            "outOfService": False,
        }
        if object_type in _ANALOG:
            kwargs["covIncrement"] = 0.0
            kwargs["units"] = PROFILE_UNITS.get(point.unit, "no-units")
        elif object_type.startswith("multi-state"):
            kwargs["numberOfStates"] = max(2, int(point.maximum or 2))
        else:
            kwargs["polarity"] = "normal"
        if commandable:
            kwargs["relinquishDefault"] = raw
        return cls(**kwargs)

    @staticmethod
    def _raw(point: BacnetPoint, value: Any) -> Any:
        object_type = point.object.partition(",")[0]
        if object_type.startswith("binary"):
            return "active" if value else "inactive"
        if value is None:
            value = 0
        if object_type.startswith("multi-state"):
            return max(1, int(value))
        return float(value) / point.scale

    @staticmethod
    def _engineering(point: BacnetPoint, raw: Any) -> Any:
        object_type = point.object.partition(",")[0]
        if object_type.startswith("binary"):
            return int(raw) == 1
        if object_type.startswith("multi-state") or point.type in (ValueType.INT, ValueType.ENUM):
            return int(raw)
        return float(raw) * point.scale

    def point_of(self, object_id: ObjectIdentifier) -> BacnetPoint | None:
        return self._by_id.get(str(object_id))

    def written(self, point: BacnetPoint) -> None:
        self.on_write(point.name, self.value(point.name))

    def value(self, name: str) -> Any:
        """The point's present value in engineering units (after the priority array)."""
        point = self._point(name)
        return self._engineering(point, self._objects[name].presentValue)

    def set_value(self, name: str, value: Any) -> None:
        """A measurement or local change: present value, or the default under commands."""
        point = self._point(name)
        obj = self._objects[name]
        raw = self._raw(point, value)
        if hasattr(obj, "priorityArray"):
            obj.relinquishDefault = raw
            obj.recalculating()
        elif self._engineering(point, obj.presentValue) != value:
            obj.presentValue = raw

    def priority_array(self, name: str) -> list[Any]:
        """The 16 slots of a commandable point in engineering units (None = NULL)."""
        point = self._point(name)
        obj = self._objects[name]
        slots: list[Any] = []
        for slot in obj.priorityArray:
            if slot.null is not None:
                slots.append(None)
            else:
                slots.append(self._engineering(point, getattr(slot, slot._choice)))
        return slots

    def _point(self, name: str) -> BacnetPoint:
        for point in self.points:
            if point.name == name:
                return point
        raise KeyError(f"device {self.name} has no point {name!r}")
