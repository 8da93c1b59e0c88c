"""Load a site file: parse, validate every section, then check what spans sections.

``load_site(path)`` is the one entry point used by ``check-config``, ``run``, ``hil`` and
``demo``, so the same file is judged the same way everywhere. All problems in a file (and
in the profiles it names) are collected and raised together as one ConfigError.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from drivers.connection import CONNECTION_PROTOCOL
from drivers.profile import GpioProfile, Profile, load_profile, resolve_profile_path
from drivers.yamldoc import ConfigError, Problem, YamlDocument, validate
from gateway.config.site import (
    ApiSection,
    BacnetSection,
    Device,
    ExternalMarketSection,
    MarketSection,
    Section,
    SiteInfo,
    StorageSection,
    TariffSection,
)
from gateway.islanding.settings import IslandingSettings

SERVES = {"meter": {"meter", "load"}}  # a submeter's profile also describes the load it meters
SITE_FACTS = {"category": "ieee1547_category", "nominal_frequency_hz": "nominal_frequency_hz"}


DER_RATING_KEYS = {"pv": "peak_power_kw", "storage": "max_discharge_kw",
                   "generator": "rated_power_kw"}


def _aggregate_der_kva(devices: Any) -> float | None:
    """Sum of the DER ratings (PV peak, storage discharge, generators) for Table 5."""
    if not isinstance(devices, list):
        return None
    total = 0.0
    for device in devices:
        if not isinstance(device, dict) or device.get("nature") not in DER_RATING_KEYS:
            continue
        agent = device.get("agent")
        rating = agent.get(DER_RATING_KEYS[device["nature"]]) if isinstance(agent, dict) else None
        if isinstance(rating, int | float | str):
            try:
                total += float(rating)
            except ValueError:
                continue
    return total or None


class SiteFile(Section):
    site: SiteInfo
    devices: list[Device]
    market: MarketSection
    external_market: ExternalMarketSection | None = None
    tariff: TariffSection | None = None
    islanding: IslandingSettings = Field(default_factory=IslandingSettings)
    bacnet: BacnetSection = Field(default_factory=BacnetSection)
    storage: StorageSection = Field(default_factory=StorageSection)
    api: ApiSection = Field(default_factory=ApiSection)

    @model_validator(mode="before")
    @classmethod
    def _site_facts_into_islanding(cls, data: Any) -> Any:
        """Category and nominal frequency are site facts, written once under ``site``."""
        if not isinstance(data, dict) or not isinstance(data.get("site"), dict):
            return data
        islanding = data.get("islanding") or {}
        if not isinstance(islanding, dict):
            return data
        for key in SITE_FACTS:
            if key in islanding:
                raise ValueError(
                    f"islanding.{key} is set from the site section; remove it here"
                )
        site = data["site"]
        facts = {key: site[source] for key, source in SITE_FACTS.items() if source in site}
        if "aggregate_der_kva" not in islanding:
            facts["aggregate_der_kva"] = _aggregate_der_kva(data.get("devices"))
        return {**data, "islanding": {**islanding, **facts}}


@dataclass(frozen=True)
class Site:
    """A validated site: the file's content plus each device's loaded profile."""

    path: Path
    config: SiteFile
    profiles: dict[str, Profile]  # device id -> profile

    def device(self, device_id: str) -> Device:
        for device in self.config.devices:
            if device.id == device_id:
                return device
        raise KeyError(device_id)


def load_site(path: Path) -> Site:
    doc = YamlDocument.load(path)
    if not isinstance(doc.data, dict):
        raise ConfigError([Problem(path, 1, 1, "", "a site file must be a YAML mapping")])
    config = validate(doc, SiteFile)
    problems: list[Problem] = []
    profiles = _profiles(doc, config, problems)
    problems += _site_checks(doc, config)
    problems += _device_checks(doc, config, profiles)
    problems += _market_checks(doc, config)
    problems += _tariff_checks(doc, config)
    if problems:
        raise ConfigError(problems)
    return Site(path=path, config=_absolute_paths(config, path.parent.resolve()),
                profiles=profiles)


def _absolute_paths(config: SiteFile, base: Path) -> SiteFile:
    """Relative paths in a site file are relative to the site file: make them absolute, so
    every part of the gateway (and the HIL rig) reads the same file wherever it runs."""

    def resolve(value: str | None) -> str | None:
        if value is None or Path(value).is_absolute():
            return value
        return os.path.normpath(base / value)  # not resolve(): a serial link is a symlink

    devices = []
    for device in config.devices:
        conn = device.connection
        if conn.kind == "modbus_rtu":
            conn = conn.model_copy(update={"port": resolve(conn.port)})
        elif conn.kind == "opcua":
            conn = conn.model_copy(update={
                key: resolve(getattr(conn, key))
                for key in ("certificate", "private_key", "server_certificate",
                            "credentials_file")})
        devices.append(device.model_copy(update={"connection": conn}))
    storage = config.storage.model_copy(update={
        "database": resolve(config.storage.database),
        "state_directory": resolve(config.storage.state_directory)})
    update: dict[str, Any] = {"devices": devices, "storage": storage}
    if config.external_market is not None:
        update["external_market"] = config.external_market.model_copy(update={
            "credentials_file": resolve(config.external_market.credentials_file)})
    api = config.api
    update["api"] = api.model_copy(update={"tls_certificate": resolve(api.tls_certificate),
                                           "tls_private_key": resolve(api.tls_private_key)})
    return config.model_copy(update=update)


def _profiles(doc: YamlDocument, config: SiteFile, problems: list[Problem]) -> dict[str, Profile]:
    profiles: dict[str, Profile] = {}
    for index, device in enumerate(config.devices):
        loc = ("devices", index, "profile")
        path = resolve_profile_path(device.profile, relative_to=doc.path.parent)
        if not path.exists():
            problems.append(doc.problem(loc, f"unknown profile {device.profile!r}: no file "
                                             f"{path}; see config/profiles/ for the shipped "
                                             "profiles"))
            continue
        try:
            profile = load_profile(path)
        except ConfigError as err:
            problems.append(doc.problem(loc, f"profile {device.profile!r} is invalid:"))
            problems.extend(err.problems)
            continue
        protocol = CONNECTION_PROTOCOL[device.connection.kind]
        if profile.protocol != protocol:
            problems.append(doc.problem(
                ("devices", index, "connection", "kind"),
                f"connection kind {device.connection.kind!r} speaks {protocol}, but profile "
                f"{profile.name!r} is a {profile.protocol} profile",
            ))
        if device.nature not in SERVES.get(profile.nature, {profile.nature}):
            problems.append(doc.problem(
                ("devices", index, "nature"),
                f"device nature {device.nature!r} does not match profile {profile.name!r} "
                f"(nature {profile.nature!r})",
            ))
        elif device.connection.kind == "gpio" and isinstance(profile, GpioProfile):
            roles = {point.role for point in profile.points}
            named = set(device.connection.pins)
            for role in sorted(named - roles):
                problems.append(doc.problem(("devices", index, "connection", "pins", role),
                                            f"pin role {role!r} is not in profile "
                                            f"{profile.name!r} (roles: "
                                            f"{', '.join(sorted(roles))})"))
            for role in sorted(roles - named):
                problems.append(doc.problem(("devices", index, "connection", "pins"),
                                            f"no pin given for role {role!r} of profile "
                                            f"{profile.name!r}"))
        profiles[device.id] = profile
    return profiles


def _site_checks(doc: YamlDocument, config: SiteFile) -> list[Problem]:
    problems = []
    if not config.devices:
        problems.append(doc.problem(("devices",), "the devices list is empty; describe at least "
                                                  "the PCC meter"))
    return problems


def _bus_key(device: Device) -> tuple[Any, ...] | None:
    conn = device.connection
    if conn.kind == "modbus_tcp":
        return ("modbus_tcp", conn.host, conn.port, conn.unit)
    if conn.kind == "modbus_rtu":
        return ("modbus_rtu", conn.port, conn.unit)
    if conn.kind == "bacnet":
        return ("bacnet", conn.device_instance)
    return None


def _device_checks(
    doc: YamlDocument, config: SiteFile, profiles: dict[str, Profile]
) -> list[Problem]:
    problems = []
    first_index: dict[str, int] = {}
    bus: dict[tuple[Any, ...], str] = {}
    pins: dict[int, str] = {}
    serial_settings: dict[str, tuple[Any, ...]] = {}
    for index, device in enumerate(config.devices):
        if device.id in first_index:
            problems.append(doc.problem(("devices", index, "id"),
                                        f"duplicate device id {device.id!r} (first used by "
                                        f"devices[{first_index[device.id]}])"))
        first_index.setdefault(device.id, index)
        key = _bus_key(device)
        if key is not None:
            if key in bus:
                problems.append(doc.problem(("devices", index, "connection"),
                                            f"device {device.id!r} has the same bus address as "
                                            f"{bus[key]!r} ({_describe_bus(key)})"))
            bus.setdefault(key, device.id)
        conn = device.connection
        if conn.kind == "gpio":
            for role, pin in conn.pins.items():
                if pin in pins:
                    problems.append(doc.problem(("devices", index, "connection", "pins", role),
                                                f"GPIO pin {pin} is already used by "
                                                f"{pins[pin]!r}"))
                pins.setdefault(pin, f"{device.id}.{role}")
        if conn.kind == "modbus_rtu":
            line = (conn.baud, conn.parity, conn.stop_bits)
            if serial_settings.setdefault(conn.port, line) != line:
                problems.append(doc.problem(("devices", index, "connection"),
                                            f"serial port {conn.port} is configured with other "
                                            "baud/parity/stop bits by another device on the same "
                                            "line; one RS-485 line has one setting"))
    for side in ("grid", "bus"):
        at_side = [i for i, d in enumerate(config.devices) if d.pcc_side == side]
        for index in at_side[1:]:
            problems.append(doc.problem(("devices", index, "pcc_side"),
                                        f"a second meter on the {side} side of the PCC; only "
                                        "one meter may measure each side"))
    shed = config.islanding.load_shed_order
    for position, device_id in enumerate(shed):
        if device_id not in first_index:
            problems.append(doc.problem(("islanding", "load_shed_order", position),
                                        f"unknown device {device_id!r} in load_shed_order"))
        elif config.devices[first_index[device_id]].agent.critical:
            problems.append(doc.problem(("islanding", "load_shed_order", position),
                                        f"{device_id!r} is a critical load; critical loads are "
                                        "never in the shed order"))
    return problems


def _describe_bus(key: tuple[Any, ...]) -> str:
    if key[0] == "modbus_tcp":
        return f"Modbus TCP {key[1]}:{key[2]} unit {key[3]}"
    if key[0] == "modbus_rtu":
        return f"Modbus RTU {key[1]} unit {key[2]}"
    return f"BACnet device instance {key[1]}"


def _market_checks(doc: YamlDocument, config: SiteFile) -> list[Problem]:
    market = config.market
    problems = []
    if market.price_cap_per_kwh <= market.price_floor_per_kwh:
        problems.append(doc.problem(("market", "price_cap_per_kwh"),
                                    f"price cap {market.price_cap_per_kwh} must be above the "
                                    f"price floor {market.price_floor_per_kwh}"))
    previous: timedelta | None = None
    previous_until = timedelta(0)
    for index, tier in enumerate(market.horizon):
        loc = ("market", "horizon", index)
        if previous is not None and (
            tier.interval <= previous or tier.interval % previous != timedelta(0)
        ):
            problems.append(doc.problem((*loc, "interval"),
                                        f"interval {_fmt(tier.interval)} does not nest: it must "
                                        f"be a whole multiple of the previous tier's "
                                        f"{_fmt(previous)}"))
        if tier.until <= previous_until or tier.until % tier.interval != timedelta(0):
            problems.append(doc.problem((*loc, "until"),
                                        f"until {_fmt(tier.until)} must be beyond the previous "
                                        f"tier ({_fmt(previous_until)}) and a whole number of "
                                        f"{_fmt(tier.interval)} intervals"))
        if timedelta(days=1) % tier.interval != timedelta(0):
            problems.append(doc.problem((*loc, "interval"),
                                        f"interval {_fmt(tier.interval)} must divide a day "
                                        "evenly (5min, 15min, 30min, 1h ...)"))
        previous, previous_until = tier.interval, tier.until
    if market.horizon and market.clearing_cadence > market.horizon[0].interval:
        problems.append(doc.problem(("market", "clearing_cadence"),
                                    f"clearing cadence {_fmt(market.clearing_cadence)} is "
                                    "longer than the shortest interval "
                                    f"{_fmt(market.horizon[0].interval)}"))
    return problems


def _tariff_checks(doc: YamlDocument, config: SiteFile) -> list[Problem]:
    tariff, market = config.tariff, config.market
    if tariff is None:
        return []
    if config.external_market is not None:
        return [doc.problem(("tariff",), "the site buys outside either from a TeMIX "
                                         "counterparty (external_market) or at a tariff, not "
                                         "both; remove one of the two sections")]
    problems = []
    for where, imported, exported in tariff.price_pairs():
        if imported > market.price_cap_per_kwh:
            problems.append(doc.problem(("tariff",), f"{where}: import price {imported} is above "
                                                     f"market.price_cap_per_kwh "
                                                     f"{market.price_cap_per_kwh}; grid energy "
                                                     "could never be bought"))
        if exported < market.price_floor_per_kwh:
            problems.append(doc.problem(("tariff",), f"{where}: export price {exported} is below "
                                                     f"market.price_floor_per_kwh "
                                                     f"{market.price_floor_per_kwh}; raise the "
                                                     "floor or the price"))
    return problems


def _fmt(duration: timedelta) -> str:
    seconds = int(duration.total_seconds())
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0:
        return f"{seconds // 60}min"
    return f"{seconds}s"
