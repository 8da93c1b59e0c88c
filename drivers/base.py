"""The driver contract every protocol adapter fulfils, and the value types it returns.

A driver turns a device profile into reads and writes. It never raises because a device
is down: a broken link shows up as a :class:`DeviceFault` on ``driver.fault`` and as
readings of quality ``BAD``; the caller decides what to do.

Exceptions::

    DriverError            an operation on one device failed (device_id, point, address)
    └── WriteRejected      a write was refused before it reached the wire (out of range,
                           read-only or unknown point)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable

from drivers.profile import Profile

log = logging.getLogger(__name__)

Value = float | int | bool | str


class Quality(StrEnum):
    GOOD = "good"
    STALE = "stale"  # the last good value is older than the poller allows
    BAD = "bad"  # the device did not answer or answered an error
    NO_VALUE = "no_value"  # the device answered "not implemented" (a SunSpec sentinel)


@dataclass(frozen=True, slots=True)
class Reading:
    """One point's value with its quality and the clock time of the read that produced it."""

    value: Value | None
    quality: Quality
    read_at: datetime | None

    @property
    def ok(self) -> bool:
        return self.quality is Quality.GOOD

    def as_stale(self) -> Reading:
        return Reading(self.value, Quality.STALE, self.read_at)


class FaultLevel(StrEnum):
    WARNING = "warning"  # values still arrive, some are missing or doubtful
    ERROR = "error"  # the device cannot be read at all


@dataclass(frozen=True)
class DeviceFault:
    device_id: str
    level: FaultLevel
    code: str  # short machine-readable cause: "unreachable", "timeout", "exception_2" ...
    message: str  # what happened and what to check, for a facility manager
    since: datetime


class DriverError(Exception):
    """An operation on a device failed; names the device, the point and the address."""

    def __init__(
        self,
        message: str,
        *,
        device_id: str = "",
        point: str | None = None,
        address: str | int | None = None,
        code: str = "error",
    ) -> None:
        super().__init__(message)
        self.device_id = device_id
        self.point = point
        self.address = address
        self.code = code

    def __str__(self) -> str:
        where = [f"device {self.device_id}"] if self.device_id else []
        if self.point:
            where.append(f"point {self.point}")
        if self.address is not None:
            where.append(f"address {self.address}")
        message = super().__str__()
        return f"{', '.join(where)}: {message}" if where else message


class WriteRejected(DriverError):
    """A write refused before it reached the device (out of range, read-only, unknown)."""


@runtime_checkable
class Driver(Protocol):
    """What the gateway needs from a device adapter (one per device)."""

    @property
    def device_id(self) -> str: ...

    @property
    def profile(self) -> Profile:
        """The device's profile (a driver may narrow it to its protocol's profile class)."""
        ...

    @property
    def fault(self) -> DeviceFault | None:
        """The current fault, None while healthy (a plain attribute satisfies this)."""
        ...

    async def start(self) -> None:
        """Open the link; never raises because the device is down (that is a fault)."""
        ...

    async def poll(self) -> dict[str, Reading]:
        """ONE read of every point of the profile (merged block reads)."""
        ...

    async def write(self, point: str, value: float | int | bool) -> None:
        """Write one point; WriteRejected before the wire, DriverError on the wire."""
        ...

    async def revert(self) -> None:
        """Undo our commands: write each writable point's safe default."""
        ...

    async def stop(self) -> None:
        """revert(), then close the link; idempotent."""
        ...


def check_write(profile: Profile, device_id: str, point_name: str,
                value: float | int | bool) -> None:
    """Reject a write to an unknown or read-only point or outside the profile's range."""
    try:
        point = profile.point(point_name)
    except KeyError:
        raise WriteRejected(f"profile {profile.name} has no point {point_name!r}",
                            device_id=device_id, point=point_name, code="unknown_point") from None
    if point.access == "r":
        raise WriteRejected(f"point is read-only (profile {profile.name})",
                            device_id=device_id, point=point_name, code="read_only")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return
    if value != value:  # NaN
        raise WriteRejected("value NaN is not a number", device_id=device_id,
                            point=point_name, code="out_of_range")
    low = point.minimum if point.minimum is not None else float("-inf")
    high = point.maximum if point.maximum is not None else float("inf")
    if not low <= value <= high:
        raise WriteRejected(
            f"value {value} is outside the allowed range {point.minimum}..{point.maximum}"
            f" {point.unit}".rstrip(),
            device_id=device_id, point=point_name, code="out_of_range",
        )


class FaultTracker:
    """The current fault of one device; logs once when a fault starts and once when it clears.

    While the device stays faulted, a change of cause (timeout -> unreachable) updates the
    fault record quietly (DEBUG); only an escalation from WARNING to ERROR is logged again.
    """

    def __init__(self, device_id: str) -> None:
        self.device_id = device_id
        self.fault: DeviceFault | None = None

    def raise_fault(self, level: FaultLevel, code: str, message: str, now: datetime) -> None:
        current = self.fault
        if current is not None and current.code == code and current.level is level:
            return
        since = current.since if current is not None else now
        self.fault = DeviceFault(self.device_id, level, code, message, since)
        escalated = current is not None and current.level is FaultLevel.WARNING and \
            level is FaultLevel.ERROR
        if current is None or escalated:
            log_at = logging.ERROR if level is FaultLevel.ERROR else logging.WARNING
        else:
            log_at = logging.DEBUG
        log.log(log_at, "device %s: %s (%s)", self.device_id, message, code)

    def clear(self) -> None:
        if self.fault is None:
            return
        log.info("device %s: recovered after fault %s", self.device_id, self.fault.code)
        self.fault = None

    @property
    def quality(self) -> Quality:
        """The quality a reading gets from this device right now."""
        if self.fault is not None and self.fault.level is FaultLevel.ERROR:
            return Quality.BAD
        return Quality.GOOD


def bad_readings(profile: Profile, read_at: datetime | None = None) -> dict[str, Reading]:
    """A BAD reading for every point of the profile (the device did not answer)."""
    return {p.name: Reading(None, Quality.BAD, read_at) for p in profile.points}
