"""Safety properties of the islanding controller over random grids, breakers and operators."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from islanding_rig import GRID_DEAD, GRID_OK, Grid, Record, Rig
from islanding_rig import settings as site_settings

from gateway.islanding.detection import measured_value
from gateway.islanding.messages import (
    BreakerStatus,
    CloseBreaker,
    OpenBreaker,
    OperatorCommand,
    State,
    Transition,
    is_command,
)
from gateway.islanding.settings import ResolvedIslandingSettings
from gateway.islanding.synccheck import sync_violation, window_violation

DT = 0.1
EPS = 1e-6

GRIDS = st.one_of(
    st.sampled_from(
        [
            GRID_OK,
            GRID_OK,
            GRID_OK,
            GRID_OK,
            GRID_DEAD,
            Grid(voltage_pu=(0.0, 0.0, 0.0), frequency_hz=None, sense=None),
            Grid(voltage_pu=(1.0, 0.3, 1.0), sense=None),  # UV2 on one phase
            Grid(voltage_pu=(1.25, 1.0, 1.0), sense=None),  # OV2
            Grid(voltage_pu=(1.07, 1.07, 1.07)),  # outside the window, no trip
            Grid(frequency_hz=59.3),  # outside the window, no fast trip
            Grid(frequency_hz=62.5, sense=None),  # OF2
            Grid(voltage_pu=None, frequency_hz=None, sense=None),  # meter lost
            Grid(sense=False),  # sense alone says absent
            Grid(voltage_pu=(float("nan"), 1.0, 1.0), frequency_hz=float("inf"), sense=None),
        ]
    ),
    st.builds(
        Grid,
        voltage_pu=st.tuples(*[st.floats(0.0, 1.3)] * 3),
        frequency_hz=st.floats(55.0, 65.0),
        sense=st.sampled_from([True, None, False]),
    ),
)


@dataclass(frozen=True)
class Segment:
    steps: int
    grid: Grid
    command: OperatorCommand | None
    island_phase_deg: float
    island_frequency_hz: float


SEGMENTS = st.builds(
    Segment,
    steps=st.one_of(st.integers(1, 5), st.integers(1, 80)),
    grid=GRIDS,
    command=st.sampled_from([None, None, None, *OperatorCommand]),
    island_phase_deg=st.sampled_from([0.0, 0.0, 5.0, -15.0, 30.0, 200.0]),
    island_frequency_hz=st.sampled_from([60.0, 60.0, 60.05, 59.6, 60.4]),
)


@dataclass(frozen=True)
class Scenario:
    category: str
    delay_s: float
    backup: bool
    breaker_delay_steps: int
    stuck_from_step: int | None
    segments: list[Segment]


SCENARIOS = st.builds(
    Scenario,
    category=st.sampled_from(["I", "II", "III"]),
    delay_s=st.sampled_from([0.0, 1.0, 3.0]),
    backup=st.booleans(),
    breaker_delay_steps=st.integers(0, 7),
    stuck_from_step=st.one_of(st.none(), st.integers(0, 600)),
    segments=st.lists(SEGMENTS, min_size=1, max_size=25),
)


def run(scenario: Scenario) -> Rig:
    resolved = site_settings(
        category=scenario.category,
        enter_service_delay_s=scenario.delay_s,
        backup_trip_output=scenario.backup,
        restore_step_interval_s=1.0,
        planned_island_timeout_s=2.0,
        load_shed_order=["a", "b"],
    )
    rig = Rig(resolved, dt_s=DT)
    rig.breaker_delay_steps = scenario.breaker_delay_steps
    for segment in scenario.segments:
        rig.grid = segment.grid
        rig.island_phase_deg = segment.island_phase_deg
        rig.island_frequency_hz = segment.island_frequency_hz
        if segment.command is not None:
            rig.controller.request(segment.command)
        for _ in range(segment.steps):
            if scenario.stuck_from_step is not None and rig.steps >= scenario.stuck_from_step:
                rig.breaker_stuck = True
            rig.step()
    return rig


def commands(record: Record) -> list[object]:
    return [o for o in record.outputs if is_command(o)]


def assert_closes_only_when_safe(log: list[Record], s: ResolvedIslandingSettings) -> None:
    delay = s.enter_service.delay_s
    for i, record in enumerate(log):
        if CloseBreaker() not in record.outputs:
            continue
        assert record.inputs.grid_present is not False
        assert window_violation(s.enter_service, record.inputs) is None
        assert sync_violation(s.sync_check, record.inputs) is None
        assert record.at_s + EPS >= delay
        held = [r for r in log[: i + 1] if r.at_s >= record.at_s - delay - EPS]
        for earlier in held:
            assert window_violation(s.enter_service, earlier.inputs) is None, (
                f"close at {record.at_s} s but the grid left the window at {earlier.at_s} s"
            )


def assert_trips_within_clearing_time(log: list[Record], s: ResolvedIslandingSettings) -> None:
    for trip in s.trips:
        run_start: float | None = None
        for record in log:
            if record.state_before is not State.GRID_CONNECTED:
                run_start = None
                continue
            inputs = record.inputs
            value = measured_value(trip.function, inputs.grid_voltage_pu, inputs.grid_frequency_hz)
            if value is None or not trip.picked_up(value):
                run_start = None
                continue
            run_start = record.at_s if run_start is None else run_start
            late = record.at_s - run_start - trip.clearing_time_s - DT
            assert late <= EPS, f"{trip.function} held since {run_start} s, still connected"
    for record in log:
        if record.state_before is State.GRID_CONNECTED and record.inputs.grid_present is False:
            assert OpenBreaker() in record.outputs, f"grid sense absent at {record.at_s} s"


def assert_unmoved_breaker_locks_out(log: list[Record], s: ResolvedIslandingSettings) -> None:
    timeout = s.breaker_operate_timeout_s
    for i, record in enumerate(log):
        for output in record.outputs:
            if not isinstance(output, OpenBreaker | CloseBreaker):
                continue
            wanted = BreakerStatus.OPEN if isinstance(output, OpenBreaker) else BreakerStatus.CLOSED
            window = [r for r in log[i:] if r.at_s <= record.at_s + timeout + EPS]
            after = [r for r in log[i + 1 :] if r.at_s > record.at_s + timeout + EPS]
            if any(r.inputs.breaker is wanted for r in window) or not after:
                continue
            assert after[0].state_before is State.LOCKOUT or any(
                isinstance(o, Transition) and o.to_state is State.LOCKOUT
                for r in window
                for o in r.outputs
            ), f"{output} at {record.at_s} s not verified, yet no lockout"


def assert_lockout_is_silent_and_no_retry(log: list[Record]) -> None:
    for record in log:
        reset = any(
            isinstance(o, Transition) and o.from_state is State.LOCKOUT for o in record.outputs
        )
        if record.state_before is State.LOCKOUT and not reset:
            assert commands(record) == [], f"command in lockout at {record.at_s} s"
    last: dict[type, bool] = {OpenBreaker: False, CloseBreaker: False}
    rearm = {OpenBreaker: (State.ISLANDED, State.UNKNOWN), CloseBreaker: (State.GRID_CONNECTED,)}
    for record in log:
        for output in record.outputs:
            if isinstance(output, Transition):
                for kind, states in rearm.items():
                    if output.to_state in (*states, State.UNKNOWN):
                        last[kind] = False
            elif isinstance(output, OpenBreaker | CloseBreaker):
                assert not last[type(output)], f"{output} repeated at {record.at_s} s"
                last[type(output)] = True


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SCENARIOS)
def test_safety_properties_hold_for_random_histories(scenario: Scenario) -> None:
    rig = run(scenario)
    assert_closes_only_when_safe(rig.log, rig.settings)
    assert_trips_within_clearing_time(rig.log, rig.settings)
    assert_unmoved_breaker_locks_out(rig.log, rig.settings)
    assert_lockout_is_silent_and_no_retry(rig.log)


@settings(max_examples=60, deadline=None)
@given(
    healthy_steps=st.integers(1, 50),
    outage=st.sampled_from([GRID_DEAD, Grid(voltage_pu=(0.2, 0.2, 0.2), sense=None)]),
    backup=st.booleans(),
    later=st.lists(GRIDS, max_size=5),
)
def test_stuck_breaker_always_ends_in_lockout(
    healthy_steps: int, outage: Grid, backup: bool, later: list[Grid]
) -> None:
    rig = Rig(site_settings(backup_trip_output=backup), dt_s=DT)
    rig.breaker_stuck = True
    for _ in range(healthy_steps):
        rig.step()
    rig.grid = outage
    rig.run_until(lambda: bool(rig.outputs(OpenBreaker)), 1.0)
    opened_at = rig.outputs(OpenBreaker)[0][0]
    locked_at = rig.run_until(lambda: rig.state is State.LOCKOUT, 1.0)
    assert locked_at - opened_at <= rig.settings.breaker_operate_timeout_s + DT + EPS
    for grid in later:
        rig.grid = grid
        rig.run_for(20.0)
    assert rig.state is State.LOCKOUT
    assert rig.commands_after(locked_at) == []
