"""Physics: the bus balances every step, limits hold, devices respond to their points."""

from __future__ import annotations

import asyncio
import itertools
import math

import pytest
from hil_kit import START, IslandingScript, demo_site, scenario_physics, timeline

from drivers.clock import ManualClock
from hil.physics import BreakerFault, EvSession, build_physics
from hil.physics.building import LOSS_FRACTION
from hil.physics.hvac import THERMAL_CAPACITY_KWH_PER_K, THERMAL_RESISTANCE_K_PER_KW, HvacZone
from hil.physics.meters import Meter
from hil.physics.shapes import DailyShape
from hil.rig import run_on_clock
from hil.state import DeviceState

TOLERANCE_KW = 1e-9


def _assert_balanced(physics) -> None:  # type: ignore[no-untyped-def]
    f = physics.flows
    supply = f.grid_kw + f.pv_kw + f.battery_kw
    assert abs(supply - (f.load_kw + f.losses_kw)) < TOLERANCE_KW, (physics.t, f)
    assert f.losses_kw == pytest.approx(LOSS_FRACTION * f.load_kw)


def test_bus_balances_every_step_through_an_outage_and_islanding() -> None:
    physics = scenario_physics("outage")
    script = IslandingScript(physics)
    battery = physics.devices.battery
    assert battery is not None
    islanded_steps = 0
    while not physics.finished:
        script()
        physics.step()
        _assert_balanced(physics)
        assert battery.min_kwh - 1e-9 <= battery.energy_kwh <= battery.max_kwh + 1e-9
        if physics.flows.energized and not physics.flows.connected:
            islanded_steps += 1
            assert physics.flows.grid_kw == 0.0
    # 45 minutes out, minus the seconds the bus was dead before the battery formed
    assert 40 * 60 < islanded_steps <= 45 * 60 + 60


def test_soc_stays_within_limits_when_pushed_both_ways() -> None:
    physics = build_physics(demo_site(), timeline(duration_s=12 * 3600.0))
    battery = physics.devices.battery
    assert battery is not None
    device = physics.state.device("battery")
    device.client_write("setpoint_timeout_s", 0)
    device.client_write("power_setpoint_kw", 75.0)
    physics.run(4 * 3600)
    assert battery.soc_pct == pytest.approx(5.0, abs=1e-6)  # min_soc_pct of the demo site
    assert physics.flows.battery_kw == pytest.approx(0.0, abs=1e-6)
    device.client_write("power_setpoint_kw", -75.0)
    physics.run(4 * 3600)
    assert battery.soc_pct == pytest.approx(95.0, abs=1e-6)
    assert device["max_charge_kw"] == pytest.approx(0.0, abs=1e-6)


def test_battery_efficiency_costs_energy_on_a_round_trip() -> None:
    physics = build_physics(demo_site(), timeline())
    battery = physics.devices.battery
    assert battery is not None
    device = physics.state.device("battery")
    device.client_write("setpoint_timeout_s", 0)
    start_kwh = battery.energy_kwh
    device.client_write("power_setpoint_kw", -40.0)
    physics.run(3600)
    device.client_write("power_setpoint_kw", 40.0)
    physics.run(3600)
    # 40 kWh in and 40 kWh out at 90 % round trip leaves ~4 kWh less than at the start
    assert start_kwh - battery.energy_kwh == pytest.approx(40 * (1 / 0.9**0.5 - 0.9**0.5))


def test_battery_setpoint_reverts_to_zero_after_its_timeout() -> None:
    physics = build_physics(demo_site(), timeline())
    device = physics.state.device("battery")
    device.client_write("setpoint_timeout_s", 30)
    device.client_write("power_setpoint_kw", 20.0)
    physics.run(10)
    assert physics.flows.battery_kw == pytest.approx(20.0)
    physics.run(30)
    assert device["power_setpoint_kw"] == 0.0
    assert physics.flows.battery_kw == 0.0


@pytest.mark.parametrize("energized", [True, False], ids=["hvac-off", "bus-dead"])
def test_zone_without_hvac_drifts_toward_outdoor_temperature(energized: bool) -> None:
    outdoor = DailyShape([(0.0, 30.0)], name="constant")
    device = DeviceState("zone")
    zone = HvacZone(device, 15.0, outdoor, DailyShape([(0.0, 0.0)]), initial_temperature_c=22.0)
    zone.internal_gains = False
    device.client_write("setpoint_c", 30.0)  # above the zone: the controller never cools
    gaps = []
    for _ in range(5):
        gaps.append(30.0 - zone.temperature_c)
        for _ in range(3600):
            zone.demand(0.0)
            zone.commit(energized, 0.0, 1.0)
    assert zone.power_kw == 0.0
    assert all(later < earlier for earlier, later in itertools.pairwise(gaps))
    time_constant_h = THERMAL_RESISTANCE_K_PER_KW * THERMAL_CAPACITY_KWH_PER_K
    expected = 8.0 * math.exp(-5.0 / time_constant_h)
    assert 30.0 - zone.temperature_c == pytest.approx(expected, rel=1e-3)


def test_cooling_holds_a_zone_near_its_setpoint() -> None:
    physics = build_physics(demo_site(), timeline())
    physics.run(15 * 3600)  # 15:00, the hottest hour
    for zone in physics.devices.zones:
        assert 22.5 <= zone.temperature_c < 24.0
        assert zone.power_kw > 0.0


def test_islanded_following_battery_cannot_hold_the_bus() -> None:
    physics = build_physics(demo_site(), timeline())
    physics.state.device("pcc_breaker").client_write("trip", True)
    physics.run(5)
    assert not physics.flows.connected
    assert not physics.flows.energized
    bus = physics.state.device("bus_meter")
    assert bus["voltage_a_v"] == 0.0 and bus["frequency_hz"] == 0.0
    assert physics.state.device("critical_loads")["power_kw"] == 0.0


def test_island_collapses_beyond_battery_limits_and_black_starts_after_shedding() -> None:
    physics = build_physics(demo_site(), timeline(
        battery_soc_pct=80, cloud_cover=1.0, ev_sessions=(EvSession(14 * 3600, 86400, 100.0),)))
    state = physics.state
    physics.run(15 * 3600)  # overcast afternoon, EV charging: ~100 kW of load, ~10 kW of PV
    state.device("battery").client_write("mode", 1)
    state.device("pcc_breaker").client_write("trip", True)
    physics.run(5)
    assert not physics.flows.energized, "more than 75 kW net load must collapse the island"
    assert any("island collapsed" in entry for _, entry in physics.log)
    for zone_id in ("hvac_zone_1", "hvac_zone_2", "hvac_zone_3"):
        state.device(zone_id).client_write("setpoint_c", 30.0)
    state.device("lighting").client_write("on", False)
    state.device("ev_charger").client_write("current_limit_a", 0)
    physics.run(10)
    assert physics.flows.energized
    bus = state.device("bus_meter")
    assert 59.8 < bus["frequency_hz"] < 60.1
    assert bus["voltage_a_v"] == pytest.approx(277, rel=0.03)
    assert state.device("pcc_meter")["frequency_hz"] == pytest.approx(60, abs=0.1)


def test_island_collapses_when_the_battery_reaches_its_minimum_soc() -> None:
    physics = build_physics(demo_site(), timeline(battery_soc_pct=5.5))  # 1 kWh usable
    state = physics.state
    state.device("battery").client_write("mode", 1)
    state.device("pcc_breaker").client_write("trip", True)
    physics.run(10)
    assert physics.flows.energized
    physics.run(600)
    assert not physics.flows.energized
    assert state.device("bus_meter")["frequency_hz"] == 0.0
    assert state.device("battery")["soc_pct"] == pytest.approx(5.0, abs=0.01)


def test_breaker_operates_and_reports_on_its_status_contacts() -> None:
    physics = build_physics(demo_site(), timeline())
    breaker = physics.state.device("pcc_breaker")
    assert breaker["status_52a"] is True and breaker["status_52b"] is False
    breaker.client_write("trip", True)
    breaker.client_write("trip", False)
    physics.step()
    assert breaker["status_52a"] is False and breaker["status_52b"] is True
    breaker.client_write("close", True)
    breaker.client_write("close", False)
    physics.step()
    assert breaker["status_52a"] is True
    assert physics.devices.breaker.operations == 2


def test_breaker_that_fails_to_open_stays_closed_until_the_backup_trip() -> None:
    physics = build_physics(demo_site(), timeline(
        breaker_faults=(BreakerFault("fails_to_open", 0, 86400),)))
    breaker = physics.state.device("pcc_breaker")
    breaker.client_write("trip", True)
    physics.run(5)
    assert breaker["status_52a"] is True
    assert physics.devices.breaker.failed_operations == 1
    assert physics.flows.connected
    physics.state.device("battery").client_write("mode", 1)
    breaker.client_write("backup_trip", True)
    physics.run(5)
    assert not physics.flows.connected
    assert breaker["status_52a"] is True  # the PCC breaker itself never moved
    assert physics.flows.energized  # the battery holds the building (night load < 75 kW)


def test_breaker_that_fails_to_close_stays_open() -> None:
    physics = build_physics(demo_site(), timeline(
        breaker_faults=(BreakerFault("fails_to_close", 0, 86400),)))
    breaker = physics.state.device("pcc_breaker")
    breaker.client_write("trip", True)
    breaker.client_write("trip", False)
    physics.run(2)
    breaker.client_write("close", True)
    physics.run(2)
    assert breaker["status_52b"] is True
    assert any("failed to close" in entry for _, entry in physics.devices.breaker.log)


def test_ev_charges_the_energy_asked_then_unplugs_and_the_next_vehicle_plugs_in() -> None:
    sessions = (EvSession(3600, 7200 + 3600 * 3, 11.0), EvSession(3600, 36000, 5.0))
    physics = build_physics(demo_site(), timeline(ev_sessions=sessions))
    ev = physics.state.device("ev_charger")
    physics.run(3600)
    assert ev["plugged_in"] == 0
    physics.run(60)
    assert ev["plugged_in"] == 1 and ev["power_kw"] == pytest.approx(22.0)
    assert ev["energy_needed_kwh"] == 11.0
    physics.run(1800)  # 11 kWh at 22 kW takes 30 minutes
    assert ev["energy_needed_kwh"] == 5.0
    physics.run(900)
    assert physics.devices.chargers[0].shortfall_kwh() == pytest.approx(0.0, abs=1e-6)
    assert ev["plugged_in"] == 0


def test_ev_current_limit_scales_power_and_falls_back_when_the_controller_is_silent() -> None:
    physics = build_physics(demo_site(), timeline(ev_sessions=(EvSession(0, 86400, 80.0),)))
    ev = physics.state.device("ev_charger")
    ev.client_write("fallback_timeout_s", 60)
    ev.client_write("current_limit_a", 16.0)
    physics.run(30)
    assert ev["power_kw"] == pytest.approx(3 * 277 * 16 / 1000)  # 13.3 kW on a 277 V service
    ev.client_write("current_limit_a", 32.0)
    physics.run(1)
    assert ev["power_kw"] == pytest.approx(22.0)  # the charger's rating caps it
    physics.run(59)
    assert ev["power_kw"] == pytest.approx(22.0)
    physics.run(2)
    assert ev["current_limit_a"] == 0.0 and ev["power_kw"] == 0.0


def test_pv_curtailment_applies_when_enabled_and_reverts_after_its_timer() -> None:
    physics = build_physics(demo_site(), timeline())
    pv = physics.state.device("pv_inverter")
    physics.run(12 * 3600)
    assert pv["power_kw"] > 50.0
    pv.client_write("curtailment_reversion_s", 120)
    pv.client_write("curtailment_limit_pct", 50)
    pv.client_write("curtailment_enable", 1)
    physics.run(60)
    assert pv["power_kw"] == pytest.approx(30.0, abs=0.1)
    assert pv["inverter_state"] == 5
    physics.run(120)
    assert pv["power_kw"] > 50.0
    assert pv["curtailment_enable"] == 0


def test_island_curtails_surplus_pv_the_battery_cannot_absorb() -> None:
    physics = build_physics(demo_site(), timeline(battery_soc_pct=95))
    state = physics.state
    physics.run(12 * 3600)
    for device_id in ("hvac_zone_1", "hvac_zone_2", "hvac_zone_3"):
        state.device(device_id).client_write("setpoint_c", 30.0)
    state.device("lighting").client_write("on", False)
    state.device("battery").client_write("mode", 1)
    state.device("pcc_breaker").client_write("trip", True)
    physics.run(60)
    assert physics.flows.energized
    assert physics.flows.pv_curtailed_kw > 0.0
    assert physics.flows.battery_kw == pytest.approx(0.0, abs=1e-6)
    assert state.device("bus_meter")["frequency_hz"] > 60.0


def test_meters_integrate_energy_and_see_both_sides_of_the_pcc() -> None:
    physics = build_physics(demo_site(), timeline())
    physics.run(3600)
    pcc = physics.state.device("pcc_meter")
    assert 30.0 < pcc["energy_import_kwh"] < 50.0
    assert pcc["energy_export_kwh"] == 0.0
    critical = physics.state.device("critical_loads")
    assert critical["energy_import_kwh"] == pytest.approx(17.6, abs=0.5)
    assert pcc["phase_angle_deg"] == physics.state.device("bus_meter")["phase_angle_deg"]


def test_closing_onto_the_grid_is_checked_for_synchronism() -> None:
    physics = build_physics(demo_site(), timeline())
    state = physics.state
    state.device("battery").client_write("mode", 1)
    breaker = state.device("pcc_breaker")
    breaker.client_write("trip", True)
    breaker.client_write("trip", False)
    physics.run(2)
    # wait for the island's phase to come round within a few degrees of the grid's
    bus, pcc = state.device("bus_meter"), state.device("pcc_meter")
    for _ in range(600):
        physics.step()
        if abs(bus["phase_angle_deg"] - pcc["phase_angle_deg"]) < 5:
            break
    assert abs(bus["frequency_hz"] - pcc["frequency_hz"]) < 0.3
    breaker.client_write("close", True)
    breaker.client_write("close", False)
    physics.step()
    assert physics.flows.connected and physics.out_of_sync_closures == 0
    assert "in sync" in physics.log[-1][1]
    breaker.client_write("trip", True)
    breaker.client_write("trip", False)
    physics.run(2)
    for _ in range(600):
        physics.step()
        if abs(bus["phase_angle_deg"] - pcc["phase_angle_deg"]) > 90:
            break
    breaker.client_write("close", True)
    physics.step()
    assert physics.out_of_sync_closures == 1


async def test_physics_follows_a_manual_clock_step_for_step() -> None:
    physics = build_physics(demo_site(), timeline(duration_s=7200.0))
    clock = ManualClock(START)
    runner = asyncio.create_task(run_on_clock(physics, clock))
    await asyncio.sleep(0)
    await clock.advance(0.5)
    assert physics.steps == 0
    await clock.advance(0.5)
    assert physics.steps == 1
    await clock.advance(3599)
    assert physics.steps == 3600 and physics.t == 3600.0
    await clock.advance(7200)
    await asyncio.wait_for(runner, timeout=10)
    assert physics.finished and physics.steps == 7200


def test_a_meter_read_between_steps_shows_the_angle_turned_since_the_step() -> None:
    """The physics steps a whole second; a real meter measures when it is read. At a slip
    of 0.07 Hz a second is 25°, more than the sync-check's window."""
    meter = Meter(DeviceState("bus_meter"), 277.0, phase_angle=True)
    meter.update(10.0, 1.0, 60.07, 12.0, 1.0)
    meter.carry_phase(0.5, 60.0)
    assert meter.device.values["phase_angle_deg"] == pytest.approx(12.0 + 360 * 0.07 * 0.5)
    meter.carry_phase(0.25, 60.0)  # from the step, not from the last read
    assert meter.device.values["phase_angle_deg"] == pytest.approx(12.0 + 360 * 0.07 * 0.25)
    meter.update(0.0, 0.0, 0.0, 0.0, 1.0)  # a dead bus has no angle to carry
    meter.carry_phase(0.5, 60.0)
    assert meter.device.values["phase_angle_deg"] == 0.0
