"""Delivery intervals: a timezone-aware start plus an exact elapsed duration.

Rules (why they are what they are):

- ``start`` must be timezone-aware: a time without a zone is not UTC (WS-Calendar), so a
  naive start is an error rather than a guess.
- ``duration`` is *elapsed* time. ``end`` is ``start`` plus ``duration`` on the UTC time
  line, shown in the start's zone. A local calendar day across a DST change is therefore a
  23- or 25-hour interval (see :func:`local_day`); ISO ``P1D`` always means 24 hours.
- ``hours`` is an exact :class:`~fractions.Fraction`, so energies of sub-intervals sum to
  the energy of the whole without rounding.
- Alignment (:func:`is_aligned`): an interval whose duration divides 24 hours is aligned
  when its start's wall-clock time of day, in the market's zone, is a whole multiple of the
  duration after local midnight (5-, 15-, 60-minute intervals sit on the clock). An
  interval of whole days is aligned when it starts at local midnight. A local day (23, 24
  or 25 hours from one local midnight to the next) is aligned too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from fractions import Fraction
from functools import lru_cache
from zoneinfo import ZoneInfo

from market.errors import IntervalError

__all__ = [
    "Interval",
    "format_duration",
    "instant_us",
    "is_aligned",
    "local_day",
    "parse_duration",
]

_MICROSECOND = timedelta(microseconds=1)
_NO_TIME = timedelta(0)
_HOUR_US = 3_600_000_000
_DAY = timedelta(days=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def instant_us(moment: datetime) -> int:
    """An aware datetime as integer microseconds since the Unix epoch.

    Python compares two datetimes that share a tzinfo by wall clock, ignoring ``fold``, so
    01:30 EDT and 01:30 EST on a fall-back night would compare equal; comparing these
    integers compares instants.
    """
    return (moment - _EPOCH) // _MICROSECOND


@dataclass(frozen=True, slots=True, eq=False)
class Interval:
    """Delivery interval ``Interval(start, duration)``.

    Equality, hashing and ordering go by (start instant, duration): the same instant in two
    zones is the same interval, and the two 01:00 hours of a fall-back night differ.
    """

    start: datetime
    duration: timedelta
    _start_us: int = field(init=False, repr=False)
    _duration_us: int = field(init=False, repr=False)
    _hash: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        start, duration = self.start, self.duration
        if not isinstance(start, datetime):
            raise IntervalError(f"interval start must be a datetime, got {start!r}")
        if start.tzinfo is None or start.utcoffset() is None:
            raise IntervalError(
                f"interval start {start.isoformat()} has no time zone; "
                "give an explicit offset or zone (a naive time is not UTC)"
            )
        if not isinstance(duration, timedelta) or duration <= _NO_TIME:
            raise IntervalError(f"interval duration must be a positive timedelta, got {duration!r}")
        start_us = instant_us(start)
        duration_us = duration // _MICROSECOND
        object.__setattr__(self, "_start_us", start_us)
        object.__setattr__(self, "_duration_us", duration_us)
        object.__setattr__(self, "_hash", hash((start_us, duration_us)))

    def _key(self) -> tuple[int, int]:
        return (self._start_us, self._duration_us)

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, Interval):
            return NotImplemented
        return self._start_us == other._start_us and self._duration_us == other._duration_us

    def __hash__(self) -> int:
        return self._hash

    def __lt__(self, other: Interval) -> bool:
        return self._key() < other._key()

    def __le__(self, other: Interval) -> bool:
        return self._key() <= other._key()

    def __gt__(self, other: Interval) -> bool:
        return self._key() > other._key()

    def __ge__(self, other: Interval) -> bool:
        return self._key() >= other._key()

    @property
    def end(self) -> datetime:
        """Start plus duration in elapsed time, expressed in the start's zone."""
        start_tz = self.start.tzinfo
        assert start_tz is not None
        return (self.start.astimezone(UTC) + self.duration).astimezone(start_tz)

    @property
    def hours(self) -> Fraction:
        """Exact length in hours (5 minutes is ``Fraction(1, 12)``)."""
        return _hours(self._duration_us)

    @property
    def start_us(self) -> int:
        """Start as integer microseconds since the Unix epoch (zone-independent key)."""
        return self._start_us

    @property
    def end_us(self) -> int:
        """End as integer microseconds since the Unix epoch."""
        return self._start_us + self._duration_us

    @property
    def duration_us(self) -> int:
        """Duration as integer microseconds."""
        return self._duration_us

    @property
    def iso_duration(self) -> str:
        """Duration as ISO 8601 text, e.g. ``PT5M``."""
        return format_duration(self.duration)

    def contains(self, other: Interval) -> bool:
        """True when ``other`` lies wholly inside this interval (an interval contains itself)."""
        start_us = self._start_us
        return (
            start_us <= other._start_us
            and other._start_us + other._duration_us <= start_us + self._duration_us
        )

    def contains_instant(self, instant: datetime) -> bool:
        """True when ``start <= instant < end`` (compared as instants)."""
        return self._start_us <= instant_us(instant) < self.end_us

    def overlaps(self, other: Interval) -> bool:
        """True when the two intervals share some time."""
        return self._start_us < other.end_us and other._start_us < self.end_us

    def split(self, duration: timedelta) -> list[Interval]:
        """Consecutive sub-intervals of ``duration`` covering this interval exactly."""
        if not isinstance(duration, timedelta) or duration <= timedelta(0):
            raise IntervalError(f"split duration must be a positive timedelta, got {duration!r}")
        count, rest = divmod(self.duration, duration)
        if rest:
            raise IntervalError(
                f"cannot split {format_duration(self.duration)} into "
                f"{format_duration(duration)} pieces: it is not a whole multiple"
            )
        start_tz = self.start.tzinfo
        assert start_tz is not None
        utc_start = self.start.astimezone(UTC)
        return [
            Interval((utc_start + i * duration).astimezone(start_tz), duration)
            for i in range(count)
        ]

    def containing(self, duration: timedelta, zone: tzinfo | str = UTC) -> Interval:
        """The aligned interval of ``duration`` (dividing 24 h) that contains this start."""
        tz = _zone(zone)
        if duration <= timedelta(0) or _DAY % duration:
            raise IntervalError(f"{format_duration(duration)} does not divide a day")
        local = self.start.astimezone(tz)
        midnight = datetime.combine(local.date(), time(0), tzinfo=tz)
        wall = local.replace(tzinfo=None) - midnight.replace(tzinfo=None)
        floor = midnight.replace(tzinfo=None) + (wall // duration) * duration
        candidate = Interval(floor.replace(tzinfo=tz, fold=local.fold), duration)
        if not candidate.contains(Interval(self.start, min(self.duration, duration))):
            raise IntervalError(
                f"no aligned {format_duration(duration)} interval contains {self.start.isoformat()}"
            )
        return candidate

    def __str__(self) -> str:
        return f"{self.start.isoformat()}/{format_duration(self.duration)}"


@lru_cache(maxsize=64)
def _hours(duration_us: int) -> Fraction:
    """Hours of a duration; a market has a handful of durations, so they are made once."""
    return Fraction(duration_us, _HOUR_US)


def _zone(zone: tzinfo | str) -> tzinfo:
    return ZoneInfo(zone) if isinstance(zone, str) else zone


def is_aligned(interval: Interval, zone: tzinfo | str = UTC) -> bool:
    """Whether ``interval`` sits on the clock of ``zone`` (rule in the module docstring)."""
    tz = _zone(zone)
    local = interval.start.astimezone(tz)
    wall = local.replace(tzinfo=None) - datetime.combine(local.date(), time(0))
    if interval.duration <= _DAY and not _DAY % interval.duration:
        return not wall % interval.duration
    if wall:
        return False
    if not interval.duration % _DAY:
        return True
    return interval == local_day(local.date(), tz)


def local_day(day: date, zone: tzinfo | str) -> Interval:
    """The interval from local midnight of ``day`` to the next local midnight (23/24/25 h)."""
    tz = _zone(zone)
    start = datetime.combine(day, time(0), tzinfo=tz)
    end = datetime.combine(day + _DAY, time(0), tzinfo=tz)
    return Interval(start, end.astimezone(UTC) - start.astimezone(UTC))


_DURATION_RE = re.compile(
    r"P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:[.,]\d{1,6})?)S)?)?"
)


def parse_duration(text: str) -> timedelta:
    """Parse an ISO 8601 duration of weeks, days, hours, minutes, seconds (``PT5M``, ``P1D``).

    Years and months are rejected: their length varies, so they are not exact durations.
    """
    if not isinstance(text, str):
        raise IntervalError(f"duration must be ISO 8601 text such as 'PT5M', got {text!r}")
    match = _DURATION_RE.fullmatch(text.strip())
    if match is None or text.strip() in ("P", "PT") or text.strip().endswith("T"):
        raise IntervalError(
            f"duration {text!r} is not an ISO 8601 duration of weeks/days/hours/minutes/"
            "seconds such as 'PT5M', 'PT1H' or 'P1D' (years and months are not exact)"
        )
    parts = match.groupdict()
    seconds_text = (parts["seconds"] or "0").replace(",", ".")
    whole, _, frac = seconds_text.partition(".")
    duration = timedelta(
        weeks=int(parts["weeks"] or 0),
        days=int(parts["days"] or 0),
        hours=int(parts["hours"] or 0),
        minutes=int(parts["minutes"] or 0),
        seconds=int(whole),
        microseconds=int(frac.ljust(6, "0")) if frac else 0,
    )
    if duration <= timedelta(0):
        raise IntervalError(f"duration {text!r} must be longer than zero")
    return duration


def format_duration(duration: timedelta) -> str:
    """ISO 8601 text for a positive duration: ``PT5M``, ``PT1H``, ``P1D``, ``P1DT2H``."""
    if duration <= timedelta(0):
        raise IntervalError(f"duration must be positive, got {duration!r}")
    days = duration.days
    rest_us = duration.seconds * 1_000_000 + duration.microseconds
    hours, rest_us = divmod(rest_us, _HOUR_US)
    minutes, rest_us = divmod(rest_us, 60_000_000)
    seconds, micros = divmod(rest_us, 1_000_000)
    text = "P" + (f"{days}D" if days else "")
    clock = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    if seconds or micros:
        clock += f"{seconds}.{micros:06d}".rstrip("0").rstrip(".") + "S"
    return text + ("T" + clock if clock else "")
