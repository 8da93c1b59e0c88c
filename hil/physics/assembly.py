"""Build the physics of a site: one model per device of the site file, by nature.

Which meter is which: the site file's ``pcc_side: grid`` / ``pcc_side: bus`` on a meter
(the same marking the islanding controller reads). A meter without ``pcc_side`` meters an
unmodelled circuit on the bus: bus voltage and frequency, no power. Loads flagged
``critical`` follow the critical-load shape, other loads the base plug-load shape. Every
writable point a model does not set starts at its profile's ``safe_default``.
"""

from __future__ import annotations

import random
from zoneinfo import ZoneInfo

from gateway.config import Site
from hil.physics.battery import Battery
from hil.physics.breaker import PccBreaker
from hil.physics.building import BuildingPhysics, Devices
from hil.physics.ev import EvCharger
from hil.physics.events import Timeline
from hil.physics.grid import UtilityGrid
from hil.physics.hvac import HvacZone
from hil.physics.lighting import Lighting
from hil.physics.loads import ShapedLoad
from hil.physics.meters import Meter
from hil.physics.pv import PvArray
from hil.physics.shapes import DailyShape, shipped
from hil.state import BuildingState

CRITICAL_NOISE_PU = 0.01
BASE_NOISE_PU = 0.03
SOLAR_EXPOSURE = (1.0, 1.6, 0.5)  # zones face different ways: east, west, north
DEFAULT_RATED_KW = {"hvac_zone": 15.0, "lighting": 12.0, "ev_charger": 22.0, "pv": 60.0}


class SiteNotSimulable(ValueError):
    """The site lacks what the simulated building needs (names the device and the fix)."""


def _float(value: object, fallback: float) -> float:
    return float(value) if value is not None else fallback  # type: ignore[arg-type]


def build_physics(
    site: Site, timeline: Timeline, state: BuildingState | None = None
) -> BuildingPhysics:
    """The physics of ``site`` running ``timeline``; device values live in ``state``."""
    state = state if state is not None else BuildingState()
    config = site.config
    rng = random.Random(timeline.seed)
    nominal_v = float(config.site.nominal_voltage_v)
    nominal_hz = float(config.site.nominal_frequency_hz)
    clear_sky = shipped("clear_sky_pv_pu")
    outdoor = shipped("outdoor_temperature_c")
    shapes = {True: shipped("critical_kw"), False: shipped("base_plug_kw")}

    breaker: PccBreaker | None = None
    grid_sense = None
    meters: dict[str, Meter] = {}
    battery: Battery | None = None
    devices_pv: list[PvArray] = []
    loads: list[tuple[ShapedLoad, Meter]] = []
    zones: list[HvacZone] = []
    lights: list[Lighting] = []
    chargers: list[EvCharger] = []
    # every random stream is drawn from its own generator, seeded from the run's seed in
    # file order, so adding a device does not reshuffle the others' noise
    for device in config.devices:
        agent = device.agent
        values = state.device(device.id)
        own_rng = random.Random(f"{timeline.seed}:{device.id}")
        if device.nature == "breaker":
            breaker = PccBreaker(values, timeline.breaker_faults)
        elif device.nature == "grid_sense":
            grid_sense = values
            values.values["grid_present"] = True
        elif device.nature == "meter":
            meters[device.id] = Meter(values, nominal_v, phase_angle=True)
        elif device.nature == "load":
            loads.append((
                ShapedLoad(values, shapes[agent.critical],
                           CRITICAL_NOISE_PU if agent.critical else BASE_NOISE_PU, own_rng),
                Meter(values, nominal_v, phase_angle=False),
            ))
        elif device.nature == "pv":
            devices_pv.append(PvArray(
                values, _float(agent.peak_power_kw, DEFAULT_RATED_KW["pv"]), clear_sky,
                timeline.clouds, timeline.cloud_cover, timeline.cloud_variability, own_rng,
            ))
        elif device.nature == "storage":
            if battery is not None:
                raise SiteNotSimulable(
                    f"device {device.id!r}: the simulated building has one battery "
                    f"({battery.device.device_id!r} already); remove one storage device"
                )
            if agent.capacity_kwh is None:
                raise SiteNotSimulable(
                    f"device {device.id!r}: give agent.capacity_kwh, max_charge_kw and "
                    "max_discharge_kw so the battery can be simulated"
                )
            battery = Battery(
                values, float(agent.capacity_kwh), _float(agent.max_charge_kw, 0.0),
                _float(agent.max_discharge_kw, 0.0), float(agent.min_soc_pct),
                float(agent.max_soc_pct), float(agent.round_trip_efficiency),
                timeline.battery_soc_pct,
            )
        elif device.nature == "hvac_zone":
            zones.append(HvacZone(
                values, _float(agent.rated_power_kw, DEFAULT_RATED_KW["hvac_zone"]), outdoor,
                clear_sky, timeline.zone_temperature_c, timeline.temperature_offset_c,
                SOLAR_EXPOSURE[len(zones) % len(SOLAR_EXPOSURE)],
            ))
        elif device.nature == "lighting":
            lights.append(Lighting(values, _float(agent.rated_power_kw,
                                                  DEFAULT_RATED_KW["lighting"])))
        elif device.nature == "ev_charger":
            chargers.append(EvCharger(
                values, _float(agent.max_power_kw, DEFAULT_RATED_KW["ev_charger"]),
                timeline.ev_sessions if not chargers else (), timeline.start, nominal_v,
            ))
        profile = site.profiles.get(device.id)
        if profile is not None:
            for point in profile.points:
                if point.access != "r" and point.safe_default is not None:
                    values.values.setdefault(point.name, point.safe_default)
    if breaker is None:
        raise SiteNotSimulable(
            "the site has no device of nature 'breaker': the simulated building needs its "
            "PCC breaker (profile gpio-pcc-breaker)"
        )
    sides = {device.pcc_side: device.id for device in config.devices
             if device.nature == "meter" and device.pcc_side is not None}
    for meter_id, meter in meters.items():
        if meter_id not in sides.values():
            idle = ShapedLoad(meter.device, DailyShape([(0.0, 0.0)], "idle"), 0.0, rng)
            loads.append((idle, meter))
    devices = Devices(
        breaker=breaker,
        grid_sense=grid_sense,
        pcc_meter=meters.get(sides.get("grid", "")),
        bus_meter=meters.get(sides.get("bus", "")),
        battery=battery,
        pv=devices_pv,
        loads=loads,
        zones=zones,
        lighting=lights,
        chargers=chargers,
    )
    grid = UtilityGrid(nominal_v, nominal_hz, timeline.grid, rng)
    return BuildingPhysics(timeline, state, devices, grid, ZoneInfo(config.site.timezone), rng)
