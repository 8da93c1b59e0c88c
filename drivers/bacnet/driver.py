"""The BACnet/IP driver: one device, read by ReadPropertyMultiple, commanded at one priority.

- **Reads**: one ReadPropertyMultiple per poll for every point not kept fresh by COV
  (split only when the device neither segments nor fits the answer in its max APDU;
  ReadProperty per point when the device lacks RPM). Limits come from the device object.
- **Writes**: a commandable point is written at the site's priority (default 12; 1, 2, 5
  and 6 are refused), a plain writable point without one. ``relinquish`` writes NULL into
  our slot; it runs when a command ends, when its ``until`` time passes (checked every
  poll), on ``revert`` and on ``stop``. Relinquish_Default is never written.
- **COV**: present values are subscribed with a finite lifetime and renewed at half of it;
  a device that refuses (or lacks SubscribeCOV) is polled instead. Between polls a
  notification updates the reading and tells ``on_change`` listeners at once. Every
  ``cov_audit_s`` the poll reads the COV points too; a value that disagrees means the
  device lost our subscription (it restarted), and we subscribe again at once.
- **Faults** are data: unreachable/slow devices, Error/Reject/Abort answers and wrong
  instances become a DeviceFault (logged once at start, once at clear) and BAD readings.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from drivers.bacnet.network import acquire_stack, release_stack
from drivers.bacnet.ports import PortInUse, device_address
from drivers.bacnet.priorities import DEFAULT_PRIORITY, check_priority
from drivers.bacnet.stack import BacnetRequestError, BacnetStack, CovSubscription, DeviceIdentity
from drivers.base import (
    DeviceFault,
    DriverError,
    FaultLevel,
    FaultTracker,
    Quality,
    Reading,
    bad_readings,
    check_write,
)
from drivers.clock import Clock
from drivers.connection import BacnetConnection
from drivers.factory import register
from drivers.profile import BacnetPoint, BacnetProfile, ValueType

log = logging.getLogger(__name__)

DEFAULT_LOCAL_ADDRESS = "0.0.0.0:47808"
RPM_OVERHEAD_BYTES = 16
RPM_BYTES_PER_VALUE = 24

ChangeListener = Callable[[str, Reading], None]




class BacnetDriver:
    """One BACnet/IP device behind the driver contract (see :mod:`drivers.base`)."""

    def __init__(self, device_id: str, connection: BacnetConnection, profile: BacnetProfile,
                 clock: Clock, *, priority: int = DEFAULT_PRIORITY,
                 local_address: str = DEFAULT_LOCAL_ADDRESS, bbmd: str | None = None,
                 cov: bool = True, cov_lifetime_s: int = 300, cov_audit_s: float = 60.0,
                 timeout_s: float = 1.0) -> None:
        self.device_id = device_id
        self.profile = profile
        self.clock = clock
        self.priority = check_priority(priority)
        self.address = device_address(connection.address)
        self.instance = connection.device_instance
        self.local_address = local_address
        self.bbmd = bbmd
        self.use_cov = cov
        self.cov_lifetime_s = max(10, int(cov_lifetime_s))
        self.cov_audit_s = cov_audit_s
        self.timeout_s = timeout_s
        self.identity: DeviceIdentity | None = None
        self._faults = FaultTracker(device_id)
        self._stack: BacnetStack | None = None
        self._stopped = False
        self._commanded: dict[str, datetime | None] = {}
        self._written: set[str] = set()
        self._cov: dict[str, CovSubscription] = {}
        self._cov_refused: set[str] = set()
        self._cov_values: dict[str, Reading] = {}
        self._cov_renew_at = 0.0
        self._cov_audit_at = 0.0
        self._listeners: list[ChangeListener] = []

    @property
    def fault(self) -> DeviceFault | None:
        return self._faults.fault

    @property
    def commanded(self) -> dict[str, datetime | None]:
        """Points we hold a priority slot on, with the time the command ends (None: open)."""
        return dict(self._commanded)

    @property
    def cov_points(self) -> set[str]:
        """Points kept fresh by a COV subscription (the others are polled)."""
        return set(self._cov)

    def on_change(self, listener: ChangeListener) -> None:
        """Call ``listener(point, reading)`` for every COV notification."""
        self._listeners.append(listener)

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Join the local BACnet application and identify the device (a fault if absent)."""
        self._stopped = False
        if self._stack is None:
            try:
                self._stack = await acquire_stack(self.local_address, self.bbmd)
            except (PortInUse, ValueError) as err:
                raise DriverError(str(err), device_id=self.device_id,
                                  address=self.local_address, code="local_port") from err
        await self._connect()

    async def stop(self) -> None:
        if self._stopped or self._stack is None:
            self._stopped = True
            return
        await self.revert()
        for subscription in self._cov.values():
            if self.identity is not None:
                await subscription.cancel(self.timeout_s)
        self._cov.clear()
        self._cov_values.clear()
        release_stack(self._stack)
        self._stack = None
        self._stopped = True
        await asyncio.sleep(0)  # a closed stack's sockets close on the next loop pass

    async def revert(self) -> None:
        """Relinquish every slot we hold; write safe defaults to plain writable points."""
        for point in list(self._commanded):
            try:
                await self.relinquish(point)
            except DriverError as err:
                log.warning("could not relinquish: %s; the device keeps our value at priority "
                            "%d until someone relinquishes it", err, self.priority)
        for name in sorted(self._written):
            point = self.profile.point(name)
            if point.safe_default is None:
                continue
            try:
                await self._write_wire(point, point.safe_default, None)
                self._written.discard(name)
            except DriverError as err:
                log.warning("could not restore the safe default: %s", err)

    # -- reads -------------------------------------------------------------------------

    async def poll(self) -> dict[str, Reading]:
        now = self.clock.now()
        await self._end_due_commands(now)
        if self.identity is None and not await self._connect():
            return bad_readings(self.profile, now)
        stack = self._require_stack()
        if self._cov and self.clock.monotonic() >= self._cov_renew_at:
            await self._subscribe_cov()
        # A snapshot: a write while the read below is in flight drops its COV value.
        live = {name: self._cov_values[name] for name in self._cov if name in self._cov_values}
        audit = bool(live) and self.clock.monotonic() >= self._cov_audit_at
        if audit:  # read COV points too, now and then: a restarted device forgets them
            live = {}
            self._cov_audit_at = self.clock.monotonic() + self.cov_audit_s
        polled = [p for p in self.profile.points if p.name not in live]
        refs = [(p.object, p.property) for p in polled]
        if not refs:
            refs = [(f"device,{self.instance}", "system-status")]
        try:
            values = await self._read(stack, refs)
        except BacnetRequestError as err:
            if err.kind != "error":
                self._lost(err)
                return bad_readings(self.profile, now)
            singly = await self._read_one_by_one(stack, refs)
            if singly is None:
                return bad_readings(self.profile, now)
            values = singly
        readings: dict[str, Reading] = {}
        problems: list[str] = []
        for point, value in zip(polled, values, strict=False):
            if isinstance(value, BacnetRequestError):
                readings[point.name] = Reading(None, Quality.BAD, now)
                problems.append(f"{point.name} ({point.object} {point.property}): {value.reason}")
            else:
                readings[point.name] = Reading(self._engineering(point, value), Quality.GOOD, now)
        for name, cov in live.items():
            readings[name] = Reading(cov.value, Quality.GOOD, now)
        if audit:
            self._check_cov(readings)
        if problems:
            self._faults.raise_fault(
                FaultLevel.WARNING, "point_error",
                f"device {self.instance} at {self.address} refused some points: "
                f"{'; '.join(problems)}; check the profile's objects against the device",
                now)
        else:
            self._faults.clear()
        return {p.name: readings[p.name] for p in self.profile.points}

    def _check_cov(self, readings: dict[str, Reading]) -> None:
        """After an audit read: a COV value that disagrees means a lost subscription."""
        stale = [name for name in self._cov if name in self._cov_values and name in readings
                 and readings[name].ok and readings[name].value != self._cov_values[name].value]
        for name in self._cov:
            if name in readings and readings[name].ok:
                self._cov_values[name] = readings[name]
        if stale:
            log.info("device %s: COV values of %s were out of date (did the device restart?); "
                     "subscribing again", self.device_id, ", ".join(stale))
            self._cov_renew_at = 0.0

    async def _read_one_by_one(self, stack: BacnetStack,
                               refs: list[tuple[str, str]]) -> list[Any] | None:
        """ReadProperty per point: a device that refuses a whole RPM for one bad object."""
        try:
            return await self._read_singly(stack, refs)
        except BacnetRequestError as err:
            self._lost(err)
            return None

    async def _read_singly(self, stack: BacnetStack, refs: list[tuple[str, str]]) -> list[Any]:
        values: list[Any] = []
        for object_id, prop in refs:
            try:
                values.append(await stack.read(self.address, object_id, prop, self.timeout_s))
            except BacnetRequestError as err:
                if err.kind != "error":
                    raise
                values.append(err)
        return values

    async def _read(self, stack: BacnetStack, refs: list[tuple[str, str]]) -> list[Any]:
        identity = self.identity
        assert identity is not None
        if not identity.read_multiple:
            return await self._read_singly(stack, refs)
        size = len(refs)
        if not identity.segments_replies:
            size = max(1, (identity.max_apdu - RPM_OVERHEAD_BYTES) // RPM_BYTES_PER_VALUE)
        values = []
        for start in range(0, len(refs), size):
            chunk = refs[start:start + size]
            values += await stack.read_multiple(self.address, chunk, self.timeout_s)
        return values

    # -- writes ------------------------------------------------------------------------

    async def write(self, point: str, value: float | int | bool, *,
                    until: datetime | None = None) -> None:
        """Command a point; a commandable one holds our slot until relinquished or ``until``."""
        check_write(self.profile, self.device_id, point, value)
        target = self.profile.point(point)
        if self.identity is None and not await self._connect():
            raise DriverError(f"device {self.instance} at {self.address} is not answering; "
                              "the write was not sent", device_id=self.device_id,
                              point=point, address=target.object, code="unreachable")
        await self._write_wire(target, value, self.priority if target.commandable else None)
        self._cov_values.pop(point, None)  # read our write back until its notification comes
        if target.commandable:
            self._commanded[point] = until
        else:
            self._written.add(point)

    async def relinquish(self, point: str) -> None:
        """Write NULL into our priority slot of ``point`` (the command has ended)."""
        target = self.profile.point(point)
        stack = self._require_stack()
        try:
            await stack.relinquish(self.address, target.object, self.priority, self.timeout_s)
        except BacnetRequestError as err:
            raise self._write_error(target, err) from None
        self._commanded.pop(point, None)
        self._cov_values.pop(point, None)

    async def _write_wire(self, point: BacnetPoint, value: Any, priority: int | None) -> None:
        stack = self._require_stack()
        try:
            await stack.write(self.address, point.object, point.property,
                              self._raw(point, value), priority, self.timeout_s)
        except BacnetRequestError as err:
            raise self._write_error(point, err) from None

    def _write_error(self, point: BacnetPoint, err: BacnetRequestError) -> DriverError:
        if err.kind == "timeout":
            message = f"no answer from {self.address} within {self.timeout_s:g} s"
            code = "timeout"
        else:
            message = f"the device refused the write ({err})"
            if "write-access-denied" in err.reason:
                message += ("; the object is not writable or not commandable on the device: "
                            "check 'access' and 'commandable' in the profile")
            code = "write_refused"
        return DriverError(message, device_id=self.device_id, point=point.name,
                           address=point.object, code=code)

    async def _end_due_commands(self, now: datetime) -> None:
        for point, until in list(self._commanded.items()):
            if until is not None and now >= until:
                try:
                    await self.relinquish(point)
                except DriverError as err:
                    log.warning("command ended but relinquish failed: %s (retrying next poll)",
                                err)

    # -- link and COV ------------------------------------------------------------------

    async def _connect(self) -> bool:
        stack = self._require_stack()
        try:
            self.identity = await stack.identify(self.address, self.instance, self.timeout_s)
        except BacnetRequestError as err:
            if "unknown-object" in err.reason:
                self._faults.raise_fault(
                    FaultLevel.ERROR, "wrong_instance",
                    f"the device at {self.address} has no device object {self.instance} "
                    f"({err}); check device_instance in the site file", self.clock.now())
                return False
            self._lost(err)
            return False
        if self.use_cov:
            if self.identity.subscribe_cov:
                try:
                    await self._subscribe_cov()
                except BacnetRequestError as err:
                    self._lost(err)
                    return False
            elif not self._cov_refused:
                self._cov_refused = {p.name for p in self.profile.points}
                log.info("device %s does not support SubscribeCOV; polling every point",
                         self.device_id)
        return True

    async def _subscribe_cov(self) -> None:
        stack = self._require_stack()
        for point in self.profile.points:
            if point.name in self._cov_refused or point.property != "present-value":
                continue
            subscription = self._cov.get(point.name)
            if subscription is None:
                subscription = stack.cov(self.address, point.object, self._cov_listener(point))
            try:
                await subscription.subscribe(self.cov_lifetime_s, self.timeout_s)
            except BacnetRequestError as err:
                if err.kind == "timeout":
                    raise
                self._cov_refused.add(point.name)
                self._cov.pop(point.name, None)
                log.info("device %s refused COV on %s (%s); polling it instead",
                         self.device_id, point.object, err.reason)
                continue
            self._cov[point.name] = subscription
        self._cov_renew_at = self.clock.monotonic() + self.cov_lifetime_s / 2

    def _cov_listener(self, point: BacnetPoint) -> Callable[[str, Any], None]:
        def listener(prop: str, value: Any) -> None:
            if prop != point.property:
                return
            reading = Reading(self._engineering(point, value), Quality.GOOD, self.clock.now())
            self._cov_values[point.name] = reading
            for notify in self._listeners:
                notify(point.name, reading)
        return listener

    def _lost(self, err: BacnetRequestError) -> None:
        """The device stopped answering or answered a whole request with an error."""
        self.identity = None
        self._cov_values.clear()
        now = self.clock.now()
        if err.kind == "timeout":
            self._faults.raise_fault(
                FaultLevel.ERROR, "unreachable",
                f"no answer from BACnet device {self.instance} at {self.address} within "
                f"{self.timeout_s:g} s; check that it is powered, the address and port, and "
                "the network path", now)
        else:
            self._faults.raise_fault(
                FaultLevel.ERROR, err.kind,
                f"BACnet device {self.instance} at {self.address} answered {err}", now)

    def _require_stack(self) -> BacnetStack:
        if self._stack is None:
            raise DriverError("driver is not started", device_id=self.device_id,
                              code="not_started")
        return self._stack

    # -- values ------------------------------------------------------------------------

    @staticmethod
    def _engineering(point: BacnetPoint, raw: Any) -> float | int | bool | str | None:
        if raw is None:
            return None
        if point.type is ValueType.BOOL:
            return bool(int(raw))
        if point.type in (ValueType.INT, ValueType.ENUM):
            return int(raw)
        if point.type is ValueType.STRING:
            return str(raw)
        return float(raw) * point.scale

    @staticmethod
    def _raw(point: BacnetPoint, value: Any) -> Any:
        if point.object.startswith("binary"):
            return "active" if value else "inactive"
        if point.type in (ValueType.INT, ValueType.ENUM):
            return int(value)
        if point.type is ValueType.BOOL:
            return bool(value)
        return float(value) / point.scale


def build_bacnet_driver(device_id: str, connection: Any, profile: Any, clock: Clock,
                        **options: Any) -> BacnetDriver:
    """The factory's builder for ``kind: bacnet`` (options: see BacnetDriver)."""
    if not isinstance(connection, BacnetConnection) or not isinstance(profile, BacnetProfile):
        raise ValueError(f"device {device_id}: a bacnet connection needs a BACnet profile")
    allowed = {"priority", "local_address", "bbmd", "cov", "cov_lifetime_s", "cov_audit_s",
               "timeout_s"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise TypeError(f"device {device_id}: unknown BACnet driver option(s) "
                        f"{', '.join(unknown)} (known: {', '.join(sorted(allowed))})")
    return BacnetDriver(device_id, connection, profile, clock, **options)


register("bacnet", build_bacnet_driver)
