"""Scenarios on the pure islanding controller, time passed in, times asserted against settings."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest
from islanding_rig import GRID_DEAD, GRID_OK, Grid, Rig, settings

from gateway.islanding.controller import SYNC_ALARM_AFTER_S
from gateway.islanding.messages import (
    AlarmCode,
    CloseBreaker,
    FireBackupTrip,
    Inputs,
    MarketMode,
    OpenBreaker,
    OperatorCommand,
    RaiseAlarm,
    RestoreLoad,
    SetMarketMode,
    SetPccFlowTarget,
    SetStorageMode,
    ShedLoad,
    State,
    StorageMode,
    Transition,
    is_command,
    per_unit,
)

DT = 0.1
SHED_ORDER = ["ev", "hvac1", "hvac2", "lighting"]
BUILDING = Inputs(
    load_demand_kw={"ev": 22.0, "hvac1": 15.0, "hvac2": 15.0, "lighting": 12.0},
    critical_demand_kw=18.0,
    island_supply_kw=50.0,
    battery_soc_pct=80.0,
    battery_reserve_soc_pct=10.0,
)


def building_rig(**section: object) -> Rig:
    section.setdefault("load_shed_order", SHED_ORDER)
    rig = Rig(settings(**section), dt_s=DT, base_inputs=BUILDING)
    rig.step()
    assert rig.state is State.GRID_CONNECTED
    return rig


def alarm_codes(rig: Rig) -> list[AlarmCode]:
    return [o.code for _, o in rig.outputs(RaiseAlarm)]


def test_outage_and_return_full_sequence() -> None:
    rig = building_rig()
    s = rig.settings
    rig.run_for(1.0)
    outage_at = rig.now_s
    rig.grid = Grid(voltage_pu=(0.02, 0.0, 0.01), frequency_hz=None, sense=None)
    opened_at = rig.run_until(lambda: rig.state is State.ISLANDING, 1.0)
    uv2 = s.trip("UV2").clearing_time_s
    assert uv2 <= opened_at - outage_at <= uv2 + DT
    assert [o for t, o in rig.outputs() if t == opened_at and is_command(o)] == [OpenBreaker()]

    islanded_at = rig.run_until(lambda: rig.state is State.ISLANDED, s.breaker_operate_timeout_s)
    entry = [o for t, o in rig.outputs() if t == islanded_at and is_command(o)]
    # 18 kW critical + 64 kW sheddable against 50 kW supply: shed EV then one HVAC.
    assert entry == [
        ShedLoad("ev"),
        ShedLoad("hvac1"),
        SetStorageMode(StorageMode.GRID_FORMING),
        SetMarketMode(MarketMode.ISLANDED),
    ]

    rig.run_for(60.0)
    rig.grid = GRID_OK
    grid_back_at = rig.now_s
    resync_at = rig.run_until(lambda: rig.state is not State.ISLANDED, 400.0)
    delay = s.enter_service.delay_s
    assert delay <= resync_at - grid_back_at <= delay + DT
    assert rig.outputs(CloseBreaker) == [(resync_at, CloseBreaker())]
    assert rig.state is State.RECONNECTING

    connected_at = rig.run_until(lambda: rig.state is State.GRID_CONNECTED, 1.0)
    assert [o for t, o in rig.outputs() if t == connected_at and is_command(o)] == [
        SetStorageMode(StorageMode.GRID_FOLLOWING),
        SetMarketMode(MarketMode.GRID_CONNECTED),
    ]
    rig.run_for(2 * s.restore_step_interval_s + 1)
    restores = rig.outputs(RestoreLoad)
    assert [o for _, o in restores] == [RestoreLoad("hvac1"), RestoreLoad("ev")]
    assert restores[1][0] - restores[0][0] == pytest.approx(s.restore_step_interval_s)
    assert [(f, t) for f, t, _ in rig.transitions()] == [
        (State.UNKNOWN, State.GRID_CONNECTED),
        (State.GRID_CONNECTED, State.ISLANDING),
        (State.ISLANDING, State.ISLANDED),
        (State.ISLANDED, State.RESYNCHRONISING),
        (State.RESYNCHRONISING, State.RECONNECTING),
        (State.RECONNECTING, State.GRID_CONNECTED),
    ]


def test_every_transition_carries_cause_measurements_and_time() -> None:
    rig = building_rig()
    rig.grid = GRID_DEAD
    rig.run_for(1.0)
    events = [o for _, o in rig.outputs(Transition)]
    trip = next(e for e in events if e.to_state is State.ISLANDING)
    assert trip.cause == "grid sense reports the grid absent"
    assert trip.measurements["grid_present"] == "False"
    assert trip.measurements["breaker"] == "closed"
    assert trip.at_s == 0.1


def test_grid_sense_trips_at_once_well_inside_two_seconds() -> None:
    rig = building_rig()
    rig.run_for(0.5)
    lost_at = rig.now_s
    rig.grid = Grid(sense=False)  # meter still reads nominal: sense alone decides
    rig.step()
    assert rig.outputs(OpenBreaker) == [(lost_at, OpenBreaker())]


def test_voltage_trip_waits_for_its_clearing_time_and_resets_when_cleared() -> None:
    rig = building_rig()
    uv1 = rig.settings.trip("UV1")  # 0.70 pu / 10 s in category II
    sag = Grid(voltage_pu=(1.0, 0.65, 1.0))
    rig.grid = sag
    rig.run_for(uv1.clearing_time_s - 1.0)
    rig.grid = GRID_OK
    rig.step()
    rig.grid = sag
    start = rig.now_s
    tripped_at = rig.run_until(lambda: rig.state is State.ISLANDING, uv1.clearing_time_s + 1)
    assert uv1.clearing_time_s <= tripped_at - start <= uv1.clearing_time_s + DT
    cause = next(o.cause for _, o in rig.outputs(Transition) if o.to_state is State.ISLANDING)
    assert cause.startswith("UV1 must-trip: grid voltage 0.65 pu below 0.7 pu")


def test_frequency_trip_on_a_50_hz_site_uses_scaled_thresholds() -> None:
    rig = Rig(settings(nominal_frequency_hz=50), dt_s=DT, grid=Grid(frequency_hz=50.0))
    rig.step()
    rig.grid = Grid(frequency_hz=51.8)  # above OF2 = 62 × 50/60 = 51.67 Hz
    start = rig.now_s
    tripped_at = rig.run_until(lambda: rig.state is State.ISLANDING, 1.0)
    assert 0.16 <= tripped_at - start <= 0.16 + DT


def test_grid_returning_unstable_restarts_the_delay_on_each_excursion() -> None:
    rig = building_rig(enter_service_delay_s=120)
    rig.grid = GRID_DEAD
    rig.run_until(lambda: rig.state is State.ISLANDED, 1.0)
    rig.grid = GRID_OK
    last_excursion = 0.0
    for excursion in (Grid(frequency_hz=59.4), Grid(voltage_pu=(1.0, 1.06, 1.0)), GRID_DEAD):
        rig.run_for(100.0)
        rig.grid = excursion
        rig.step()
        last_excursion = rig.now_s
        rig.grid = GRID_OK
    assert rig.outputs(CloseBreaker) == []
    closed_at = rig.run_until(lambda: rig.state is State.RECONNECTING, 200.0)
    assert 120.0 <= closed_at - last_excursion <= 120.0 + DT
    assert len(rig.outputs(CloseBreaker)) == 1


def test_no_close_until_in_sync_then_alarm_if_it_takes_long() -> None:
    rig = building_rig(enter_service_delay_s=10)
    rig.grid = GRID_DEAD
    rig.run_until(lambda: rig.state is State.ISLANDED, 1.0)
    rig.island_phase_deg = 35.0  # beyond Table 5's 20° for ≤ 500 kVA
    rig.grid = GRID_OK
    rig.run_until(lambda: rig.state is State.RESYNCHRONISING, 11.0)
    rig.run_for(SYNC_ALARM_AFTER_S + 1.0)
    assert rig.outputs(CloseBreaker) == []
    assert AlarmCode.SYNC_CHECK_NOT_MET in alarm_codes(rig)
    rig.island_phase_deg = -350.0  # wraps to +10°
    rig.step()
    assert rig.state is State.RECONNECTING
    assert "Δφ 10°" in rig.log[-1].outputs[-1].cause  # type: ignore[union-attr]


@pytest.mark.parametrize("backup", [True, False])
def test_breaker_that_fails_to_open_locks_out_without_retry(backup: bool) -> None:
    rig = building_rig(backup_trip_output=backup)
    rig.breaker_stuck = True
    rig.grid = GRID_DEAD
    rig.step()
    commanded_at = rig.log[-1].at_s
    locked_at = rig.run_until(lambda: rig.state is State.LOCKOUT, 1.0)
    timeout = rig.settings.breaker_operate_timeout_s
    assert timeout <= locked_at - commanded_at <= timeout + DT
    assert AlarmCode.BREAKER_FAILED_TO_OPEN in alarm_codes(rig)
    assert (rig.outputs(FireBackupTrip) == [(locked_at, FireBackupTrip())]) is backup
    rig.run_for(30.0)
    rig.grid = GRID_OK
    rig.run_for(700.0)
    rig.grid = GRID_DEAD
    rig.run_for(10.0)
    assert rig.commands_after(locked_at) == []
    assert len(rig.outputs(OpenBreaker)) == 1
    assert rig.state is State.LOCKOUT


def test_breaker_that_fails_to_close_locks_out_and_reset_re_evaluates() -> None:
    rig = building_rig(enter_service_delay_s=5)
    rig.grid = GRID_DEAD
    rig.run_until(lambda: rig.state is State.ISLANDED, 1.0)
    rig.breaker_stuck = True
    rig.grid = GRID_OK
    close_at = rig.run_until(lambda: rig.state is State.RECONNECTING, 6.0)
    locked_at = rig.run_until(lambda: rig.state is State.LOCKOUT, 1.0)
    assert locked_at - close_at == pytest.approx(rig.settings.breaker_operate_timeout_s)
    assert AlarmCode.BREAKER_FAILED_TO_CLOSE in alarm_codes(rig)
    rig.run_for(600.0)
    assert rig.commands_after(locked_at) == []
    assert len(rig.outputs(CloseBreaker)) == 1

    assert not rig.controller.request(OperatorCommand.PLANNED_RECONNECT).accepted
    rig.request(OperatorCommand.RESET_LOCKOUT)
    rig.step()
    # Breaker still open: back to UNKNOWN, then islanded again, storage grid-forming.
    assert [(f, t) for f, t, _ in rig.transitions()][-2:] == [
        (State.LOCKOUT, State.UNKNOWN),
        (State.UNKNOWN, State.ISLANDED),
    ]


def test_boot_with_grid_absent_islands_at_once() -> None:
    rig = Rig(settings(), dt_s=DT, grid=GRID_DEAD)
    outputs = rig.step()
    assert rig.state is State.ISLANDING
    assert OpenBreaker() in outputs
    rig.step()
    assert rig.state is State.ISLANDED


def test_boot_with_measurements_missing_stays_unknown_and_commands_nothing() -> None:
    rig = Rig(settings(), dt_s=DT)
    for _ in range(400):
        rig.step(Inputs())
    assert rig.state is State.UNKNOWN
    assert [o for _, o in rig.outputs() if is_command(o)] == []
    assert alarm_codes(rig) == [AlarmCode.STARTUP_DATA_MISSING]


def test_boot_with_breaker_status_inconsistent_stays_unknown() -> None:
    rig = Rig(settings(), dt_s=DT)
    rig.contacts_override = (True, True)
    rig.run_for(5.0)
    assert rig.state is State.UNKNOWN
    assert [o for _, o in rig.outputs() if is_command(o)] == []


def test_boot_with_breaker_already_open_runs_the_island() -> None:
    rig = Rig(settings(load_shed_order=SHED_ORDER), dt_s=DT, breaker_closed=False)
    rig.base = BUILDING
    outputs = rig.step()
    assert rig.state is State.ISLANDED
    assert SetStorageMode(StorageMode.GRID_FORMING) in outputs
    assert SetMarketMode(MarketMode.ISLANDED) in outputs


def test_breaker_opening_on_its_own_is_followed_into_the_island() -> None:
    rig = building_rig()
    rig.breaker_closed = False  # protection tripped it
    rig.step()
    assert rig.state is State.ISLANDED
    assert AlarmCode.BREAKER_OPENED_UNCOMMANDED in alarm_codes(rig)
    assert SetStorageMode(StorageMode.GRID_FORMING) in rig.log[-1].outputs


def test_inconsistent_status_contacts_during_opening_end_in_lockout() -> None:
    rig = building_rig()
    rig.grid = GRID_DEAD
    rig.step()
    rig.contacts_override = (False, False)
    rig.run_for(1.0)
    assert rig.state is State.LOCKOUT


def test_island_sheds_further_near_battery_reserve_and_restores_in_steps() -> None:
    rig = building_rig()
    interval = rig.settings.restore_step_interval_s
    rig.grid = GRID_DEAD
    rig.run_until(lambda: rig.state is State.ISLANDED, 1.0)
    assert rig.controller.shed_loads == ("ev", "hvac1")
    rig.base = replace(BUILDING, battery_soc_pct=14.0)  # reserve 10 % + margin 5 %
    rig.run_for(interval * 2 + 1)
    assert rig.controller.shed_loads == ("ev", "hvac1", "hvac2", "lighting")
    assert AlarmCode.BATTERY_NEAR_RESERVE in alarm_codes(rig)
    # Recharged and PV up: loads come back one per interval, most important first.
    rig.base = replace(BUILDING, battery_soc_pct=60.0, island_supply_kw=200.0)
    start = rig.now_s
    rig.run_for(interval * 4)
    restores = [(t - start, o.device_id) for t, o in rig.outputs(RestoreLoad)]  # type: ignore[union-attr]
    assert [d for _, d in restores] == ["lighting", "hvac2", "hvac1", "ev"]
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(restores)]
    assert all(g == pytest.approx(interval) for g in gaps)


def test_island_overload_sheds_at_once_and_does_not_restore_what_does_not_fit() -> None:
    rig = building_rig()
    rig.grid = GRID_DEAD
    rig.run_until(lambda: rig.state is State.ISLANDED, 1.0)
    rig.base = replace(BUILDING, island_supply_kw=35.0)
    rig.step()
    assert rig.controller.shed_loads == ("ev", "hvac1", "hvac2")
    rig.run_for(120.0)
    assert rig.outputs(RestoreLoad) == []


def test_island_bus_collapse_sheds_every_load_and_restores_in_steps_once_live() -> None:
    rig = building_rig()
    interval = rig.settings.restore_step_interval_s
    rig.grid = GRID_DEAD
    rig.run_until(lambda: rig.state is State.ISLANDED, 1.0)
    rig.run_for(10.0)
    assert rig.controller.shed_loads == ("ev", "hvac1")
    rig.bus_collapsed = True
    collapsed_at = rig.now_s
    rig.step()
    assert alarm_codes(rig) == [AlarmCode.ISLAND_COLLAPSED]
    assert [o for t, o in rig.outputs(ShedLoad) if t == collapsed_at] == [
        ShedLoad("hvac2"), ShedLoad("lighting")]
    # dark, every load reads zero: nothing comes back until the bus is live again
    rig.base = replace(BUILDING, load_demand_kw={}, critical_demand_kw=0.0)
    rig.run_for(interval * 3)
    assert rig.outputs(RestoreLoad) == []
    rig.bus_collapsed = False
    rig.base = replace(BUILDING, island_supply_kw=200.0)
    live_at = rig.now_s
    rig.run_for(interval * 4 + 1)
    restores = [(t, o.device_id) for t, o in rig.outputs(RestoreLoad)]  # type: ignore[union-attr]
    assert [d for _, d in restores] == ["lighting", "hvac2", "hvac1", "ev"]
    assert restores[0][0] >= live_at
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(restores)]
    assert all(g == pytest.approx(interval) for g in gaps)
    assert alarm_codes(rig) == [AlarmCode.ISLAND_COLLAPSED], "raised once per collapse"


def test_a_bus_still_forming_when_the_island_starts_is_not_a_collapse() -> None:
    rig = building_rig()
    rig.bus_collapsed = True  # the battery takes a few seconds to energise the bus
    rig.grid = GRID_DEAD
    rig.run_until(lambda: rig.state is State.ISLANDED, 1.0)
    rig.run_for(2.0)
    rig.bus_collapsed = False
    rig.run_for(2.0)
    rig.bus_collapsed = True  # a blink within the arming time: still not a collapse
    rig.run_for(1.0)
    rig.bus_collapsed = False
    rig.run_for(30.0)
    assert AlarmCode.ISLAND_COLLAPSED not in alarm_codes(rig)
    assert rig.controller.shed_loads == ("ev", "hvac1")


def test_planned_island_ramps_pcc_flow_then_opens_and_holds() -> None:
    rig = building_rig(enter_service_delay_s=60)
    rig.base = replace(BUILDING, pcc_power_kw=40.0)
    rig.run_for(200.0)
    rig.request(OperatorCommand.PLANNED_ISLAND)
    outputs = rig.step()
    assert rig.state is State.ISLANDING
    assert SetPccFlowTarget(0.0) in outputs
    rig.run_for(5.0)
    assert rig.outputs(OpenBreaker) == []
    rig.base = replace(BUILDING, pcc_power_kw=-2.0)
    rig.step()
    assert rig.outputs(OpenBreaker) != []
    rig.step()
    assert rig.state is State.ISLANDED
    assert SetPccFlowTarget(None) in rig.log[-1].outputs
    rig.run_for(600.0)  # grid fine all along, but a planned island holds
    assert rig.state is State.ISLANDED
    rig.request(OperatorCommand.PLANNED_RECONNECT)
    rig.step()
    # The grid has been inside the window far longer than the delay: reconnect now.
    assert rig.state is State.RECONNECTING


def test_planned_island_opens_after_timeout_if_flow_stays_high() -> None:
    rig = building_rig()
    rig.base = replace(BUILDING, pcc_power_kw=40.0)
    rig.request(OperatorCommand.PLANNED_ISLAND)
    rig.step()
    start = rig.log[-1].at_s
    rig.run_until(lambda: bool(rig.outputs(OpenBreaker)), 100.0)
    opened_at = rig.outputs(OpenBreaker)[0][0]
    assert opened_at - start == pytest.approx(rig.settings.planned_island_timeout_s)


def test_grid_failure_during_planned_ramp_opens_at_once() -> None:
    rig = building_rig()
    rig.base = replace(BUILDING, pcc_power_kw=40.0)
    rig.request(OperatorCommand.PLANNED_ISLAND)
    rig.step()
    rig.grid = GRID_DEAD
    rig.step()
    assert len(rig.outputs(OpenBreaker)) == 1
    rig.step()
    assert rig.state is State.ISLANDED


def test_operator_commands_refused_where_they_make_no_sense() -> None:
    rig = building_rig()
    result = rig.controller.request(OperatorCommand.RESET_LOCKOUT)
    assert not result.accepted
    assert "not in lockout" in result.reason
    assert not rig.controller.request(OperatorCommand.PLANNED_RECONNECT).accepted


def test_breaker_closed_without_command_while_islanded_returns_to_grid_following() -> None:
    rig = building_rig()
    rig.grid = GRID_DEAD
    rig.run_until(lambda: rig.state is State.ISLANDED, 1.0)
    rig.grid = GRID_OK
    rig.breaker_closed = True
    rig.step()
    assert rig.state is State.GRID_CONNECTED
    assert AlarmCode.BREAKER_CLOSED_UNCOMMANDED in alarm_codes(rig)
    assert SetStorageMode(StorageMode.GRID_FOLLOWING) in rig.log[-1].outputs


def test_missing_pcc_measurement_is_alarmed_once_and_never_resets_a_trip_timer() -> None:
    rig = building_rig()
    uv2 = rig.settings.trip("UV2").clearing_time_s
    rig.grid = Grid(voltage_pu=(0.3, 0.3, 0.3), sense=None)
    rig.step()
    start = rig.log[-1].at_s
    rig.grid = Grid(voltage_pu=None, frequency_hz=None, sense=None)
    rig.step()
    rig.grid = Grid(voltage_pu=(0.3, 0.3, 0.3), sense=None)
    tripped = rig.run_until(lambda: rig.state is State.ISLANDING, 1.0)
    assert uv2 <= tripped - start <= uv2 + DT
    assert alarm_codes(rig).count(AlarmCode.PCC_MEASUREMENTS_MISSING) == 1


def test_operator_command_can_also_arrive_with_the_inputs() -> None:
    rig = building_rig()
    rig.base = replace(BUILDING, pcc_power_kw=1.0)
    rig.step(replace(rig.inputs(), operator_command=OperatorCommand.PLANNED_ISLAND))
    assert rig.controller.holding_island
    assert rig.outputs(OpenBreaker) != []


def test_per_unit_conversion_refuses_partial_readings() -> None:
    assert per_unit([230.0, 207.0, 253.0], 230.0) == pytest.approx((1.0, 0.9, 1.1))
    assert per_unit([230.0, None, 230.0], 230.0) is None
    assert per_unit(None, 230.0) is None


def test_nan_readings_count_as_missing_and_never_reset_a_trip_timer() -> None:
    nan = float("nan")
    inputs = Inputs(
        grid_voltage_pu=(1.0, nan, 1.0),
        grid_frequency_hz=nan,
        load_demand_kw={"ev": nan, "hvac1": 3.0},
    )
    assert inputs.grid_voltage_pu is None
    assert inputs.grid_frequency_hz is None
    assert dict(inputs.load_demand_kw) == {"hvac1": 3.0}
    rig = building_rig()
    rig.grid = Grid(voltage_pu=(0.3, 0.3, 0.3), sense=None)
    rig.step()
    start = rig.log[-1].at_s
    rig.grid = Grid(voltage_pu=(nan, nan, nan), frequency_hz=nan, sense=None)
    rig.step()
    rig.grid = Grid(voltage_pu=(0.3, 0.3, 0.3), sense=None)
    tripped = rig.run_until(lambda: rig.state is State.ISLANDING, 1.0)
    assert tripped - start <= rig.settings.trip("UV2").clearing_time_s + DT
