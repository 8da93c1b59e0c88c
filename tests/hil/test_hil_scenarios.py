"""Scenario files: every shipped one loads, its events happen when it says, runs repeat."""

from __future__ import annotations

from pathlib import Path

import pytest
from hil_kit import ZONE, IslandingScript, demo_site, scenario_physics

from drivers.yamldoc import ConfigError
from hil.physics import build_physics
from hil.scenario import load_scenario, shipped_scenarios

HOUR = 3600.0
EXPECTED = {
    "normal-day", "outage", "repeated-outages", "unstable-return", "price-spike",
    "cloudy-day", "ev-fleet", "breaker-fails-to-open",
}


def test_every_required_scenario_ships_and_compiles() -> None:
    assert set(shipped_scenarios()) >= EXPECTED
    for name in shipped_scenarios():
        timeline = load_scenario(name).timeline(ZONE)
        assert timeline.duration_s == 24 * HOUR
        assert timeline.start.astimezone(ZONE).hour == 0


def _grid_present_at(name: str, times_s: list[float]) -> list[bool]:
    physics = scenario_physics(name)
    seen = []
    for at in times_s:
        physics.run(at - physics.t)
        seen.append(bool(physics.state.device("grid_sense")["grid_present"]))
    return seen


def test_outage_scenario_cuts_the_grid_at_13_00_for_45_minutes() -> None:
    times = [13 * HOUR - 60, 13 * HOUR + 5, 13 * HOUR + 44 * 60, 13 * HOUR + 46 * 60]
    assert _grid_present_at("outage", times) == [True, False, False, True]


def test_repeated_outages_come_five_times_twenty_minutes_apart() -> None:
    physics = scenario_physics("repeated-outages")
    physics.run(14 * HOUR - 10)
    drops = 0
    present = True
    while physics.t < 16 * HOUR:
        physics.step()
        now = bool(physics.state.device("grid_sense")["grid_present"])
        if present and not now:
            drops += 1
            assert (physics.t - 1 - 14 * HOUR) % 1200 == 0
        present = now
    assert drops == 5


def test_unstable_return_swings_then_settles() -> None:
    physics = scenario_physics("unstable-return")
    pcc = physics.state.device("pcc_meter")
    physics.run(13.5 * HOUR + 1)
    swings = []
    for _ in range(600):
        physics.step()
        swings.append(abs(pcc["frequency_hz"] - 60.0))
    assert max(swings) > 0.3  # outside the 59.5-60.1 Hz enter-service window at times
    physics.run(14 * HOUR - physics.t)
    settled = []
    for _ in range(600):
        physics.step()
        settled.append(abs(pcc["frequency_hz"] - 60.0))
    assert max(settled) < 0.05


def test_price_spike_is_in_the_timeline_for_the_counterparty() -> None:
    timeline = load_scenario("price-spike").timeline(ZONE)
    (spike,) = timeline.price_spikes
    assert (spike.start_s, spike.end_s, spike.factor) == (16 * HOUR, 18 * HOUR, 8.0)


def test_cloudy_day_yields_less_pv_than_a_clear_day() -> None:
    clear = scenario_physics("normal-day")
    cloudy = scenario_physics("cloudy-day")
    for physics in (clear, cloudy):
        physics.run(12.5 * HOUR)
    assert cloudy.devices.pv[0].energy_kwh < 0.8 * clear.devices.pv[0].energy_kwh
    assert cloudy.flows.pv_kw < 0.4 * clear.flows.pv_kw  # overcast hour at noon


def test_ev_fleet_arrives_at_once_and_queues_on_the_charger() -> None:
    physics = scenario_physics("ev-fleet")
    ev = physics.state.device("ev_charger")
    physics.run(7.5 * HOUR - 1)
    assert ev["plugged_in"] == 0
    physics.run(2)
    assert ev["plugged_in"] == 1 and ev["energy_needed_kwh"] == 30.0
    physics.run(15 * HOUR - physics.t)
    charger = physics.devices.chargers[0]
    assert len(charger.sessions) == 6
    # 7.5 h at 22 kW is 165 kWh: five vans are full, the sixth leaves short
    assert charger.shortfall_kwh() == pytest.approx(180 - 165, abs=0.5)


def test_breaker_fails_to_open_when_the_outage_comes() -> None:
    physics = scenario_physics("breaker-fails-to-open")
    script = IslandingScript(physics)
    physics.run(13 * HOUR)
    for _ in range(10):
        script()
        physics.step()
    assert physics.devices.breaker.failed_operations >= 1
    assert physics.state.device("pcc_breaker")["status_52a"] is True
    assert not physics.flows.energized  # tied to a dead grid: the bus is dead


def _trace(seed: int | None, seconds: float) -> list[tuple[float, ...]]:
    physics = scenario_physics("cloudy-day", seed=seed)
    physics.run(11 * HOUR)
    trace = []
    pcc = physics.state.device("pcc_meter")
    for _ in range(int(seconds)):
        physics.step()
        flows = physics.flows
        trace.append((flows.grid_kw, flows.pv_kw, flows.load_kw, pcc["voltage_a_v"],
                      pcc["frequency_hz"], pcc["phase_angle_deg"]))
    return trace


def test_same_scenario_and_seed_give_the_same_trace() -> None:
    assert _trace(None, 600) == _trace(None, 600)
    assert _trace(11, 600) == _trace(11, 600)
    assert _trace(11, 600) != _trace(12, 600)


def test_scenario_errors_name_file_line_and_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "name: bad\n"
        "duration: 2h\n"
        "events:\n"
        "  - {at: '13:00', kind: outage, duration: 45min}\n"
        "  - {at: '01:00', kind: sag, duration: 1s, voltage_pu: 3}\n"
        "  - {at: 10min, kind: meteor, duration: 1s}\n",
        encoding="utf-8",
    )
    scenario = load_scenario_errors(path)
    assert any(":5:" in p and "voltage_pu" in p for p in scenario)
    assert any(":6:" in p and "kind" in p for p in scenario)
    good = tmp_path / "late.yaml"
    good.write_text("name: late\nduration: 2h\nevents:\n"
                    "  - {at: '13:00', kind: outage, duration: 45min}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_scenario(good).timeline(ZONE)
    (problem,) = caught.value.problems
    assert problem.line == 4 and "after the run ends" in problem.message


def load_scenario_errors(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_scenario(path)
    return [str(p) for p in caught.value.problems]


def test_unknown_scenario_lists_the_shipped_ones() -> None:
    with pytest.raises(ConfigError, match="normal-day"):
        load_scenario("no-such-scenario")


def test_physics_runs_a_scenario_with_a_shorter_step(tmp_path: Path) -> None:
    path = tmp_path / "fine.yaml"
    path.write_text("name: fine\nduration: 10min\nstep: 0.1s\n", encoding="utf-8")
    physics = build_physics(demo_site(), load_scenario(path).timeline(ZONE))
    while not physics.finished:
        physics.step()
    assert physics.steps == 6000


def test_normal_day_keeps_the_grid_and_plugs_in_two_vehicles() -> None:
    physics = scenario_physics("normal-day")
    ev = physics.state.device("ev_charger")
    plugged = []
    while not physics.finished:
        physics.step()
        assert physics.flows.connected and physics.flows.energized
        if physics.steps % 900 == 0:
            plugged.append((physics.t / HOUR, ev["energy_needed_kwh"]))
    assert (9.0, 40.0) in plugged and (13.5, 25.0) in plugged
    assert physics.devices.chargers[0].shortfall_kwh() == 0.0


def test_a_moved_start_takes_clock_times_on_the_next_day() -> None:
    scenario = load_scenario("outage")
    start = scenario.start(ZONE).replace(hour=15)
    (outage,) = scenario.timeline(ZONE, start=start).grid
    assert outage.start_s == 22 * HOUR  # 15:00 today -> 13:00 tomorrow
