"""The site file: what a facility manager writes to describe one building.

Every section is a pydantic model that rejects unknown keys, so a typo is an error with a
suggestion rather than a silently ignored setting. Cross-field rules that need more than
one section (profiles, bus addresses, interval nesting) live in :mod:`gateway.config.loader`.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from drivers.bacnet.priorities import check_priority
from drivers.connection import Connection
from drivers.profile import Nature
from market.units import PRICE_LIMIT, QUANTITY_LIMIT_KW


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SiteInfo(Section):
    name: str = Field(min_length=1)
    timezone: str = Field(description="IANA time zone, e.g. America/Los_Angeles")
    nominal_voltage_v: float = Field(gt=0, le=100_000, description="line-to-neutral volts")
    nominal_frequency_hz: Literal[50, 60]
    pcc_import_limit_kw: Decimal = Field(ge=0, le=QUANTITY_LIMIT_KW)
    pcc_export_limit_kw: Decimal = Field(ge=0, le=QUANTITY_LIMIT_KW)
    pcc_rating_kva: Decimal = Field(gt=0)
    ieee1547_category: Literal["I", "II", "III"] = "II"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}; use an IANA name such as Europe/Berlin or "
                "America/New_York"
            ) from None
        return value


Personality = Literal[
    "none", "critical_load", "fixed_load", "hvac", "ev", "curtailable", "pv", "battery",
    "generator",
]


class AgentPreferences(Section):
    """How a device's agent trades. Only the keys its personality reads are used."""

    personality: Personality = "none"
    priority: int = Field(default=5, ge=0, le=10, description="0 = shed first, 10 = last")
    critical: bool = False
    # hvac
    comfort_min_c: float | None = Field(default=None, ge=5, le=35)
    comfort_max_c: float | None = Field(default=None, ge=5, le=35)
    rated_power_kw: Decimal | None = Field(default=None, gt=0)
    # ev
    max_power_kw: Decimal | None = Field(default=None, gt=0)
    # curtailable
    threshold_price_per_kwh: Decimal | None = None
    # battery
    capacity_kwh: Decimal | None = Field(default=None, gt=0)
    max_charge_kw: Decimal | None = Field(default=None, gt=0)
    max_discharge_kw: Decimal | None = Field(default=None, gt=0)
    reserve_soc_pct: Decimal | None = Field(default=None, ge=0, le=100)
    min_soc_pct: Decimal = Field(default=Decimal(5), ge=0, le=100)
    max_soc_pct: Decimal = Field(default=Decimal(95), ge=0, le=100)
    round_trip_efficiency: Decimal = Field(default=Decimal("0.90"), gt=0, le=1)
    island_headroom_pct: Decimal = Field(
        default=Decimal(10), ge=0, le=50,
        description="islanded, share of max_discharge_kw the market never plans")
    # pv
    peak_power_kw: Decimal | None = Field(default=None, gt=0)
    # generator
    fuel_cost_per_kwh: Decimal | None = Field(default=None, ge=0)
    start_cost: Decimal | None = Field(default=None, ge=0)
    min_run_minutes: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _consistent(self) -> AgentPreferences:
        if (
            self.comfort_min_c is not None
            and self.comfort_max_c is not None
            and self.comfort_min_c >= self.comfort_max_c
        ):
            raise ValueError(
                f"comfort_min_c {self.comfort_min_c} must be below comfort_max_c "
                f"{self.comfort_max_c}"
            )
        if self.min_soc_pct >= self.max_soc_pct:
            raise ValueError("min_soc_pct must be below max_soc_pct")
        needs = REQUIRED_PREFERENCES.get(self.personality, ())
        missing = [key for key in needs if getattr(self, key) is None]
        if missing:
            raise ValueError(
                f"personality {self.personality!r} needs {', '.join(missing)}"
            )
        return self


REQUIRED_PREFERENCES: dict[str, tuple[str, ...]] = {
    "hvac": ("comfort_min_c", "comfort_max_c", "rated_power_kw"),
    "ev": ("max_power_kw",),
    "curtailable": ("threshold_price_per_kwh", "rated_power_kw"),
    "battery": ("capacity_kwh", "max_charge_kw", "max_discharge_kw", "reserve_soc_pct"),
    "pv": ("peak_power_kw",),
    "generator": ("fuel_cost_per_kwh", "rated_power_kw"),
}


class Device(Section):
    id: str = Field(pattern=r"^[a-z][a-z0-9_-]*$", description="unique device id")
    nature: Nature
    profile: str = Field(description="profile name in config/profiles/ or a path")
    connection: Connection
    agent: AgentPreferences = AgentPreferences()
    poll_interval_s: float = Field(default=1.0, gt=0, le=3600)
    pcc_side: Literal["grid", "bus"] | None = Field(
        default=None,
        description="for a meter at the PCC breaker: which side it measures (sync-check)",
    )

    @model_validator(mode="after")
    def _pcc_side_on_meters(self) -> Device:
        if self.pcc_side is not None and self.nature != "meter":
            raise ValueError("pcc_side is only for meters at the PCC breaker")
        return self


def parse_duration(value: str | int | float | timedelta) -> timedelta:
    """'5min', '15 min', '1h', '2h', '24h', '30s', 'PT5M' or seconds → timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    text = value.strip().lower().replace(" ", "")
    if text.startswith("pt") or text.startswith("p"):
        return _iso_duration(text)
    for suffix, seconds in (("min", 60), ("h", 3600), ("d", 86400), ("s", 1), ("m", 60)):
        number = text.removesuffix(suffix)
        if number != text:
            try:
                return timedelta(seconds=float(number) * seconds)
            except ValueError:
                break
    raise ValueError(f"{value!r} is not a duration (use e.g. 5min, 1h, 30s or PT5M)")


def _iso_duration(text: str) -> timedelta:
    match = re.fullmatch(r"p(?:(\d+)d)?(?:t(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?)?", text)
    if not match or text in ("p", "pt"):
        raise ValueError(f"{text.upper()!r} is not an ISO 8601 duration")
    days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


Duration = Annotated[timedelta, Field(description="e.g. 5min, 1h, 30s or PT5M")]


class HorizonTier(Section):
    interval: Duration
    until: Duration = Field(description="how far ahead intervals of this length are traded")

    @field_validator("interval", "until", mode="before")
    @classmethod
    def _duration(cls, value: object) -> timedelta:
        return parse_duration(value)  # type: ignore[arg-type]


class MarketSection(Section):
    market_id: str = Field(min_length=1, description="market context URI")
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    horizon: list[HorizonTier] = Field(min_length=1)
    price_floor_per_kwh: Decimal = Field(default=Decimal("-0.50"), gt=-PRICE_LIMIT)
    price_cap_per_kwh: Decimal = Field(default=Decimal("10.00"), lt=PRICE_LIMIT,
                                       description="value of lost load")
    clearing_cadence: Duration = timedelta(minutes=5)

    @field_validator("clearing_cadence", mode="before")
    @classmethod
    def _duration(cls, value: object) -> timedelta:
        return parse_duration(value)  # type: ignore[arg-type]


class ExternalMarketSection(Section):
    counterparty_url: str = Field(pattern=r"^https?://")
    party_id: str = Field(min_length=1, description="our party id outside")
    counterparty_id: str = Field(min_length=1)
    credentials_file: str | None = None
    timeout_s: float = Field(default=5.0, gt=0, le=60)
    stale_prices_max: Duration = Field(
        default=timedelta(hours=1),
        description="how long the last known external prices stay usable when unreachable",
    )

    @field_validator("stale_prices_max", mode="before")
    @classmethod
    def _duration(cls, value: object) -> timedelta:
        return parse_duration(value)  # type: ignore[arg-type]


_CLOCK_TIME = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$")


def minute_of_day(text: str) -> int:
    """``"16:30"`` → 990 (``"24:00"`` is 1440, the end of the day)."""
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


class TariffWindow(Section):
    """A time-of-use window in local wall-clock time; ``end`` may pass midnight."""

    start: str = Field(description="HH:MM, local time")
    end: str = Field(description="HH:MM, local time (24:00 = midnight)")
    import_per_kwh: Decimal | None = None
    export_per_kwh: Decimal | None = None

    @field_validator("start", "end")
    @classmethod
    def _clock_time(cls, value: str) -> str:
        if not _CLOCK_TIME.match(value):
            raise ValueError(f"{value!r} is not a clock time; write HH:MM, e.g. 16:00")
        return value

    @model_validator(mode="after")
    def _meaningful(self) -> TariffWindow:
        if minute_of_day(self.start) % 1440 == minute_of_day(self.end) % 1440:
            raise ValueError(f"window {self.start}-{self.end} is empty: start and end are equal")
        if self.import_per_kwh is None and self.export_per_kwh is None:
            raise ValueError("a window sets import_per_kwh, export_per_kwh or both")
        return self

    def minutes(self) -> range | tuple[range, range]:
        """The minutes of the day it covers (two ranges when it passes midnight)."""
        start, end = minute_of_day(self.start), minute_of_day(self.end)
        if start < end:
            return range(start, end)
        return range(start, 1440), range(0, end)


class TariffSection(Section):
    """The utility's tariff: the building's outside market when it has no TeMIX
    counterparty. Grid energy is bought at the import price and sold at the export price."""

    utility_id: str = Field(default="utility", min_length=1)
    import_per_kwh: Decimal
    export_per_kwh: Decimal = Decimal(0)
    time_of_use: list[TariffWindow] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> TariffSection:
        owner: dict[int, int] = {}
        for index, window in enumerate(self.time_of_use):
            covered = window.minutes()
            for minutes in covered if isinstance(covered, tuple) else (covered,):
                for minute in minutes:
                    if minute in owner:
                        other = self.time_of_use[owner[minute]]
                        raise ValueError(
                            f"time_of_use window {index} ({window.start}-{window.end}) "
                            f"overlaps window {owner[minute]} ({other.start}-{other.end}) "
                            f"at {minute // 60:02d}:{minute % 60:02d}")
                    owner[minute] = index
        for name, imported, exported in self.price_pairs():
            if exported > imported:
                raise ValueError(f"{name}: the export price {exported} is above the import "
                                 f"price {imported}; the grid would pay for its own energy")
        return self

    def price_pairs(self) -> list[tuple[str, Decimal, Decimal]]:
        """(where, import, export) for the base prices and every window's effective prices."""
        pairs = [("base prices", self.import_per_kwh, self.export_per_kwh)]
        for index, window in enumerate(self.time_of_use):
            pairs.append((f"time_of_use window {index} ({window.start}-{window.end})",
                          window.import_per_kwh if window.import_per_kwh is not None
                          else self.import_per_kwh,
                          window.export_per_kwh if window.export_per_kwh is not None
                          else self.export_per_kwh))
        return pairs


class BacnetSection(Section):
    """How the gateway itself appears on BACnet/IP (one local port for every device)."""

    local_address: str = Field(
        default="0.0.0.0:47808",
        description="our BACnet/IP address: IP[/PREFIX][:PORT]; give a prefix for Who-Is",
    )
    bbmd: str | None = Field(default=None, description="register as a foreign device: IP:PORT")
    priority: int = Field(default=12, description="command priority (not 1, 2, 5 or 6)")
    cov_lifetime_s: int = Field(default=300, ge=10, le=86_400)

    @field_validator("priority")
    @classmethod
    def _priority(cls, value: int) -> int:
        return check_priority(value)


class StorageSection(Section):
    database: str = Field(default="/var/lib/temix-gateway/ledger.db")
    state_directory: str = Field(default="/var/lib/temix-gateway")
    telemetry_retention_days: int = Field(default=90, ge=1, le=3650)
    telemetry_max_rows: int = Field(default=5_000_000, ge=1000)


class ApiSection(Section):
    bind: str = "127.0.0.1:8080"
    tls_certificate: str | None = None
    tls_private_key: str | None = None

    @model_validator(mode="after")
    def _tls(self) -> ApiSection:
        if (self.tls_certificate is None) != (self.tls_private_key is None):
            raise ValueError("give both tls_certificate and tls_private_key, or neither")
        host, sep, port = self.bind.rpartition(":")
        if not sep or not port.isdigit() or not 1 <= int(port) <= 65535 or not host:
            raise ValueError(f"bind must be HOST:PORT, got {self.bind!r}")
        return self
