"""Scenario files: what happens to the simulated building, and when.

A scenario is a YAML file in config/scenarios/ (or any path) validated by pydantic, with
errors located by file, line and key like the site file's. It compiles into a
:class:`hil.physics.Timeline` in seconds from the start of the run.

Times of events: ``at: "13:00"`` (or ``"13:00:30"``) is a local clock time on the start
day of the run, in the site's time zone; ``at: 90min`` is an offset from the start.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator

from drivers.yamldoc import ConfigError, Problem, YamlDocument, validate
from gateway.config.site import parse_duration
from hil.physics.events import (
    BreakerFault,
    CloudEvent,
    EvSession,
    GridEvent,
    PriceSpike,
    Timeline,
)

SCENARIO_DIR = Path(__file__).resolve().parent.parent / "config" / "scenarios"
DEFAULT_SCENARIO = "normal-day"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _seconds(value: object) -> float:
    return parse_duration(value).total_seconds()  # type: ignore[arg-type]


def _clock_or_offset(value: object) -> str | float:
    """``"13:00"`` / ``"13:00:30"`` stay clock times; anything else is an offset in seconds."""
    if isinstance(value, str) and ":" in value:
        parts = value.split(":")
        if len(parts) not in (2, 3) or not all(p.strip().isdigit() for p in parts):
            raise ValueError(f"{value!r} is not a clock time (use HH:MM or HH:MM:SS)")
        numbers = [int(p) for p in parts]
        if numbers[0] > 23 or any(n > 59 for n in numbers[1:]):
            raise ValueError(f"{value!r} is not a clock time of one day")
        return value
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return _seconds(value)
    raise ValueError("give a clock time (13:00) or an offset (90min)")


class _Timed(_Strict):
    at: str | float = Field(description='"HH:MM" local clock time, or an offset like 90min')

    @field_validator("at", mode="before")
    @classmethod
    def _at(cls, value: object) -> str | float:
        return _clock_or_offset(value)


class _Lasting(_Timed):
    duration: float = Field(description="how long, e.g. 45min")
    repeat: int = Field(default=1, ge=1, le=1000, description="how many times")
    every: float | None = Field(default=None, description="start-to-start spacing of repeats")

    @field_validator("duration", "every", mode="before")
    @classmethod
    def _duration(cls, value: object) -> float | None:
        if value is None:
            return None
        seconds = _seconds(value)
        if seconds <= 0:
            raise ValueError("must be longer than zero")
        return seconds


class Outage(_Lasting):
    kind: Literal["outage"]


class Sag(_Lasting):
    kind: Literal["sag"]
    voltage_pu: float = Field(ge=0.05, lt=1.0)


class Swell(_Lasting):
    kind: Literal["swell"]
    voltage_pu: float = Field(gt=1.0, le=1.5)


class FrequencyExcursion(_Lasting):
    kind: Literal["frequency"]
    frequency_hz: float = Field(ge=40, le=70)


class PhaseDrift(_Lasting):
    kind: Literal["phase_drift"]
    rate_deg_per_s: float = Field(ge=-360, le=360)


class PhaseJump(_Timed):
    kind: Literal["phase_jump"]
    degrees: float = Field(ge=-180, le=180)


class Unstable(_Lasting):
    kind: Literal["unstable"]
    voltage_swing_pu: float = Field(default=0.06, ge=0, le=0.5)
    frequency_swing_hz: float = Field(default=0.4, ge=0, le=5)


class Clouds(_Lasting):
    kind: Literal["clouds"]
    cover: float = Field(ge=0, le=1)


class PriceSpikeEvent(_Lasting):
    kind: Literal["price_spike"]
    factor: float = Field(gt=0, le=1000)


class BreakerFaultEvent(_Lasting):
    kind: Literal["breaker_fault"]
    mode: Literal["fails_to_open", "fails_to_close"]


class EvFleet(_Timed):
    kind: Literal["ev_fleet"]
    count: int = Field(ge=1, le=100)
    energy_kwh: float = Field(gt=0, le=200, description="energy each vehicle asks for")
    departure: str | float = Field(description="when they all leave (HH:MM or offset)")

    @field_validator("departure", mode="before")
    @classmethod
    def _departure(cls, value: object) -> str | float:
        return _clock_or_offset(value)


Event = Annotated[
    Outage | Sag | Swell | FrequencyExcursion | PhaseDrift | PhaseJump | Unstable | Clouds
    | PriceSpikeEvent | BreakerFaultEvent | EvFleet,
    Field(discriminator="kind"),
]


class Session(_Strict):
    arrival: str | float
    departure: str | float
    energy_kwh: float = Field(gt=0, le=200)

    @field_validator("arrival", "departure", mode="before")
    @classmethod
    def _times(cls, value: object) -> str | float:
        return _clock_or_offset(value)


class Weather(_Strict):
    cloud_cover: float = Field(default=0.0, ge=0, le=1, description="mean cloud cover")
    cloud_variability: float = Field(default=0.0, ge=0, le=1)
    temperature_offset_c: float = Field(default=0.0, ge=-30, le=30)


class ScenarioFile(_Strict):
    name: str = Field(min_length=1)
    description: str = ""
    start: str = Field(default="2026-06-21T00:00",
                       description="local date and time of the site, or ISO 8601 with offset")
    duration: float = Field(default=86400.0, description="e.g. 24h")
    step: float = Field(default=1.0, description="physics step, e.g. 1s")
    seed: int = Field(default=1, ge=0)
    battery_soc_pct: float = Field(default=60.0, ge=0, le=100)
    zone_temperature_c: float = Field(default=22.0, ge=5, le=40)
    weather: Weather = Weather()
    ev_sessions: list[Session] = Field(default_factory=list)
    events: list[Event] = Field(default_factory=list)

    @field_validator("duration", "step", mode="before")
    @classmethod
    def _duration(cls, value: object) -> float:
        seconds = _seconds(value)
        if seconds <= 0:
            raise ValueError("must be longer than zero")
        return seconds

    @field_validator("start")
    @classmethod
    def _start(cls, value: str) -> str:
        try:
            datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a date and time (use 2026-06-21T00:00)") from None
        return value


class Scenario:
    """A validated scenario file, ready to compile for a site's time zone."""

    def __init__(self, path: Path, doc: YamlDocument, spec: ScenarioFile) -> None:
        self.path = path
        self._doc = doc
        self.spec = spec

    @property
    def name(self) -> str:
        return self.spec.name

    def start(self, zone: ZoneInfo) -> datetime:
        start = datetime.fromisoformat(self.spec.start)
        return start if start.tzinfo is not None else start.replace(tzinfo=zone)

    def timeline(
        self, zone: ZoneInfo, seed: int | None = None, start: datetime | None = None
    ) -> Timeline:
        """Compile to seconds from ``start`` (default: the file's ``start``).

        Clock times (``13:00``) are taken on the start day in ``zone`` — or, when ``start``
        moves the run past them, on the next day; an event that falls outside the run is a
        ConfigError naming its line.
        """
        spec = self.spec
        begin = start if start is not None else self.start(zone)
        midnight = begin.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
        offset0 = (begin - midnight).total_seconds()
        problems: list[Problem] = []

        def when(
            value: str | float, loc: tuple[str | int, ...], after: float | None = None
        ) -> float:
            """Seconds from the start; a clock time ``after`` another one falls after it."""
            if isinstance(value, float):
                return value
            hours, minutes, *rest = (int(p) for p in value.split(":"))
            seconds = hours * 3600 + minutes * 60 + (rest[0] if rest else 0) - offset0
            if seconds < 0 and start is not None:
                seconds += 86400.0  # a moved start: the next time the clock shows it
            if after is not None and seconds <= after:
                seconds += 86400.0 * (1 + (after - seconds) // 86400.0)  # e.g. overnight
            if seconds < 0:
                problems.append(self._doc.problem(
                    loc, f"clock time {value} is before the start of the run "
                         f"({begin.astimezone(zone):%H:%M:%S}); use an offset such as 90min"))
            return seconds

        grid: list[GridEvent] = []
        clouds: list[CloudEvent] = []
        faults: list[BreakerFault] = []
        spikes: list[PriceSpike] = []
        sessions: list[EvSession] = []
        for index, session in enumerate(spec.ev_sessions):
            loc = ("ev_sessions", index)
            arrival = when(session.arrival, (*loc, "arrival"))
            departure = when(session.departure, (*loc, "departure"), after=arrival)
            if departure <= arrival:
                problems.append(self._doc.problem((*loc, "departure"),
                                                  "departure must be after arrival"))
            sessions.append(EvSession(arrival, departure, session.energy_kwh))
        for index, event in enumerate(spec.events):
            loc = ("events", index)
            at = when(event.at, (*loc, "at"))
            if at > spec.duration:
                problems.append(self._doc.problem((*loc, "at"),
                                                  f"event starts after the run ends "
                                                  f"(duration {spec.duration:g} s)"))
            if isinstance(event, EvFleet):
                departure = when(event.departure, (*loc, "departure"), after=at)
                if departure <= at:
                    problems.append(self._doc.problem((*loc, "departure"),
                                                      "departure must be after arrival"))
                sessions.extend(EvSession(at, departure, event.energy_kwh)
                                for _ in range(event.count))
                continue
            if isinstance(event, PhaseJump):
                grid.append(GridEvent("phase_jump", at, at, phase_jump_deg=event.degrees))
                continue
            every = event.every if event.every is not None else event.duration
            if event.repeat > 1 and every < event.duration:
                problems.append(self._doc.problem((*loc, "every"),
                                                  "repeats overlap: every must be at least "
                                                  "the duration"))
            for repeat in range(event.repeat):
                start_s = at + repeat * every
                end_s = start_s + event.duration
                if isinstance(event, Outage):
                    grid.append(GridEvent("outage", start_s, end_s))
                elif isinstance(event, Sag | Swell):
                    grid.append(GridEvent(event.kind, start_s, end_s,
                                          voltage_pu=event.voltage_pu))
                elif isinstance(event, FrequencyExcursion):
                    grid.append(GridEvent("frequency", start_s, end_s,
                                          frequency_hz=event.frequency_hz))
                elif isinstance(event, PhaseDrift):
                    grid.append(GridEvent("phase_drift", start_s, end_s,
                                          phase_deg_per_s=event.rate_deg_per_s))
                elif isinstance(event, Unstable):
                    grid.append(GridEvent("unstable", start_s, end_s,
                                          voltage_swing_pu=event.voltage_swing_pu,
                                          frequency_swing_hz=event.frequency_swing_hz))
                elif isinstance(event, Clouds):
                    clouds.append(CloudEvent(start_s, end_s, event.cover))
                elif isinstance(event, PriceSpikeEvent):
                    spikes.append(PriceSpike(start_s, end_s, event.factor))
                elif isinstance(event, BreakerFaultEvent):
                    faults.append(BreakerFault(event.mode, start_s, end_s))
        if problems:
            raise ConfigError(problems)
        return Timeline(
            name=spec.name,
            start=begin,
            duration_s=spec.duration,
            step_s=spec.step,
            seed=spec.seed if seed is None else seed,
            grid=tuple(grid),
            clouds=tuple(clouds),
            cloud_cover=spec.weather.cloud_cover,
            cloud_variability=spec.weather.cloud_variability,
            ev_sessions=tuple(sessions),
            breaker_faults=tuple(faults),
            price_spikes=tuple(spikes),
            temperature_offset_c=spec.weather.temperature_offset_c,
            battery_soc_pct=spec.battery_soc_pct,
            zone_temperature_c=spec.zone_temperature_c,
        )


def scenario_path(name_or_path: str | Path) -> Path:
    """A shipped scenario by name (``outage``) or a file path."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return path
    return SCENARIO_DIR / f"{name_or_path}.yaml"


def shipped_scenarios() -> list[str]:
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Load and validate a scenario; ConfigError lists every problem with its line."""
    path = scenario_path(name_or_path)
    if not path.exists():
        names = ", ".join(shipped_scenarios())
        raise ConfigError([Problem(path, 0, 0, "", f"no such scenario; shipped: {names}")])
    doc = YamlDocument.load(path)
    spec = validate(doc, ScenarioFile)
    return Scenario(path, doc, spec)
