"""Islanding end to end: the simulated building and the gateway in one process.

The rig serves every device of the demo site over its real protocol on free loopback
ports (PCC meters over Modbus TCP, the breaker and grid sense on GPIO mock pins, the
battery over OPC UA, zones and lighting over BACnet) and runs each scenario's physics on
an accelerated clock; the gateway runs as in the demo (:func:`run_demo`). Every test
checks what happened in the building — the breaker's position and its 52a/52b contacts,
the bus energised or not, the coil outputs the gateway drove — besides what the
controller believed. Scenarios are short windows around the grid event so each run takes
seconds; clock and physics times both count seconds from the scenario's start.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

import pytest
from hil_islanding import GridSample, Run, run_islanding, scenario_file

from gateway.islanding.messages import AlarmCode, State
from gateway.runtime import demo

pytestmark = pytest.mark.timeout(120)

DELAY_S = 60.0  # the enter-service delay of these runs (the demo site says 300 s)
SHORT_DELAY = {"enter_service_delay_s: 300": f"enter_service_delay_s: {DELAY_S:g}"}
SPEED = 120.0
# A grid-sense edge trips in the same step. Counted from the physics step that shows the
# loss on the devices: the GPIO simulator scans its pins every 5 ms of real time, the
# driver debounces 5 ms; at the demo's 10x around a grid event that is 0.1 s of clock
# time, plus the event loop.
TRIP_MARGIN_S = 0.5


def outage_window(folder: Path) -> Run:
    scenario = scenario_file(folder, "outage-window", """\
description: the demo outage (13:00) in a short window, a 10-minute outage
start: "2026-06-22T12:58"
duration: 25min
seed: 1
battery_soc_pct: 80
ev_sessions:
  - {arrival: 0s, departure: "17:30", energy_kwh: 40}
events:
  - {at: "13:00", kind: outage, duration: 10min}
""")
    return run_islanding(folder, scenario, duration=timedelta(minutes=22), speed=SPEED,
                         replace=SHORT_DELAY)


def test_outage_islands_holds_the_critical_loads_and_reconnects_after_the_delay(
    tmp_path: Path,
) -> None:
    run = outage_window(tmp_path)
    settings = run.gateway.config.islanding.resolved()
    step_s = run.rig.timeline.step_s
    outage = next(e for e in run.rig.timeline.grid if e.kind == "outage")
    moves = run.moves()

    # boot: a decision only from valid data, and no islanding before the grid fails
    assert moves[0][1:] == (State.UNKNOWN, State.GRID_CONNECTED), moves
    assert moves[0][0] < outage.start_s
    # detection: grid sense trips at once — within the margin of the physics step that
    # shows the loss on the devices, well inside IEEE 1547's 2 s
    islanding = run.first(State.ISLANDING)
    assert "grid sense" in islanding.cause.lower(), islanding.cause
    assert islanding.measurements["grid_present"] == "False"
    seen_s = run.grid_lost_seen_s(outage.start_s)
    assert seen_s <= islanding.at_s <= seen_s + TRIP_MARGIN_S
    assert outage.start_s < islanding.at_s
    trips = run.commands("trip")
    assert len(trips) == 1
    assert islanding.at_s <= trips[0][0] <= islanding.at_s + TRIP_MARGIN_S
    # the breaker opened in the building and the contacts said so within the operate time
    islanded = run.first(State.ISLANDED)
    assert islanded.measurements["breaker"] == "open"
    assert islanded.at_s - trips[0][0] <= settings.breaker_operate_timeout_s
    opened = run.breaker_log("breaker opened")
    assert len(opened) == 1 and outage.start_s <= opened[0] < outage.end_s
    # the island holds its critical loads: the battery energises the bus within seconds
    # of the loss and it stays energised until the breaker closes again
    dark = run.physics_log("bus de-energized")
    lit = run.physics_log("bus energized by the battery")
    assert dark == [outage.start_s], run.physics.log
    assert len(lit) == 1 and lit[0] - dark[0] <= 3 * step_s
    assert run.summary.critical_load_served_pct is not None
    assert run.summary.critical_load_served_pct >= 99.0
    # the island's market rounds balance on local supply: what the building bought from
    # the grid for the outage is bought back inside, so no device is set to draw energy
    # only the grid could give (once that left the bus short of the battery's 75 kW)
    islanded_rounds = [r for r in run.gateway.status.rounds if r.islanded]
    assert islanded_rounds, "no market round ran while islanded"
    unbalanced = [(r.now.isoformat(), r.interval.start.isoformat(), str(r.net_import_kw),
                   r.shed) for r in islanded_rounds if abs(r.net_import_kw) >= Decimal("0.001")]
    assert not unbalanced, (unbalanced, len(islanded_rounds))
    assert run.physics_log("island collapsed") == [], run.physics.log
    # reconnection: not before the grid has been back for the whole enter-service delay
    assert settings.enter_service.delay_s == DELAY_S
    resync = run.first(State.RESYNCHRONISING)
    assert resync.at_s >= outage.end_s + DELAY_S
    closes = run.commands("close")
    assert len(closes) == 1 and closes[0][0] >= resync.at_s
    reconnected = run.first(State.GRID_CONNECTED, after_s=islanded.at_s)
    assert reconnected.at_s >= outage.end_s + DELAY_S
    assert reconnected.at_s <= run.until_s - 2 * step_s, "run too short to see the close"
    assert reconnected.at_s - closes[0][0] <= settings.breaker_operate_timeout_s
    # the close was synchronised in the building (the physics judges it, not the gateway)
    tied = run.physics_log("island tied to the grid in sync")
    assert len(tied) == 1, run.physics.log
    assert tied[0] >= outage.end_s + DELAY_S - step_s
    assert run.physics.out_of_sync_closures == 0
    assert run.physics.devices.breaker.closed and run.physics.devices.breaker.connected
    assert run.pins["status_52a"] and not run.pins["status_52b"]
    assert [m[2] for m in moves] == [State.GRID_CONNECTED, State.ISLANDING, State.ISLANDED,
                                     State.RESYNCHRONISING, State.RECONNECTING,
                                     State.GRID_CONNECTED]
    assert run.commands("backup_trip") == []
    # at demo speed the paired PCC polls are seconds of clock time apart, so catching the
    # slipping phase angle inside the limit may take over a minute: that alarm only says
    # the gateway kept waiting rather than closing out of sync
    assert {a.code for a in run.alarms} <= {AlarmCode.SYNC_CHECK_NOT_MET}
    # every transition is in the ledger, with its cause and measurements, and it verifies
    events = [e.payload for e in run.ledger if e.kind == "islanding_event"]
    assert [(e["from"], e["to"]) for e in events] == [(str(a), str(b)) for _, a, b in moves]
    assert all(e["cause"] and e["measurements"] for e in events)
    assert run.summary.ledger_verified


def test_an_unstable_return_restarts_the_delay_and_no_close_comes_before_it_held(
    tmp_path: Path,
) -> None:
    """The unstable-return scenario, shortened: the grid comes back swinging in and out of
    the enter-service window for three minutes, then drifts in phase."""
    speed = 60.0
    scenario = scenario_file(tmp_path, "unstable-window", """\
description: unstable-return in a short window
start: "2026-06-22T12:58"
duration: 24min
seed: 3
battery_soc_pct: 80
events:
  - {at: "13:00", kind: outage, duration: 2min}
  - {at: "13:02", kind: unstable, duration: 3min, voltage_swing_pu: 0.08,
     frequency_swing_hz: 0.6}
  - {at: "13:05", kind: phase_drift, duration: 2min, rate_deg_per_s: 3}
""")
    run = run_islanding(tmp_path, scenario, duration=timedelta(minutes=22), speed=speed,
                        replace=SHORT_DELAY)
    window = run.gateway.config.islanding.resolved().enter_service
    outage = next(e for e in run.rig.timeline.grid if e.kind == "outage")
    unstable = next(e for e in run.rig.timeline.grid if e.kind == "unstable")
    step_s = run.rig.timeline.step_s

    def outside(s: GridSample) -> bool:
        return not s.present or not (
            window.voltage_min_pu <= s.voltage_pu <= window.voltage_max_pu
            and window.frequency_min_hz <= s.frequency_hz <= window.frequency_max_hz)

    # the grid really swung out of the window again and again after it came back
    returned = [s for s in run.grid if s.t_s >= outage.end_s]
    excursions = [b for a, b in pairwise(returned)
                  if outside(b) and not outside(a)]
    assert len(excursions) >= 10
    last_excursion_s = max(s.t_s for s in returned if outside(s)) + step_s  # seen from then
    assert unstable.end_s - 7.0 <= last_excursion_s <= unstable.end_s + step_s
    # the gateway samples the meters every MIN_REAL_POLL_S of real time: that much clock
    # time (twice, for jitter) is how far its view of the last excursion can lag
    sampling_s = 2 * demo.MIN_REAL_POLL_S * speed
    resyncs = [t for t in run.transitions if t.to_state is State.RESYNCHRONISING]
    assert resyncs, run.moves()
    for resync in resyncs:
        # had the first return started a timer that kept running, this would have come at
        # outage end + delay; the timer restarted on each excursion instead
        stated = re.search(r"window for ([\d.]+) s", resync.cause)
        assert stated is not None, resync.cause
        stable_s = float(stated.group(1))
        assert stable_s >= DELAY_S
        assert resync.at_s - stable_s >= last_excursion_s - sampling_s, resync.cause
        assert resync.at_s >= last_excursion_s + DELAY_S - sampling_s
    assert resyncs[0].at_s > outage.end_s + DELAY_S + 60.0
    # no close command before the grid had been stable for the full delay, and the close
    # that came was in sync in the building
    closes = run.commands("close")
    assert len(closes) == 1, run.commands()
    assert closes[0][0] >= last_excursion_s + DELAY_S - sampling_s
    assert closes[0][0] >= resyncs[-1].at_s
    assert closes[0][0] <= run.until_s - 2 * step_s, "run too short to see the close"
    assert run.physics.out_of_sync_closures == 0
    assert len(run.physics_log("island tied to the grid in sync")) == 1
    assert run.physics.devices.breaker.connected
    assert run.gateway.grid_state is State.GRID_CONNECTED
    assert [t for t in run.transitions if t.to_state is State.LOCKOUT] == []


def test_a_breaker_that_fails_to_open_ends_in_lockout_with_the_backup_trip_only(
    tmp_path: Path,
) -> None:
    scenario = scenario_file(tmp_path, "fails-to-open-window", """\
description: breaker-fails-to-open in a short window
start: "2026-06-22T12:58"
duration: 9min
seed: 7
battery_soc_pct: 80
events:
  - {at: 0s, kind: breaker_fault, mode: fails_to_open, duration: 9min}
  - {at: "13:00", kind: outage, duration: 3min}
""")
    run = run_islanding(tmp_path, scenario, duration=timedelta(minutes=7), speed=SPEED,
                        replace=SHORT_DELAY)
    settings = run.gateway.config.islanding.resolved()
    assert settings.backup_trip_output
    outage = next(e for e in run.rig.timeline.grid if e.kind == "outage")
    moves = run.moves()
    assert [m[2] for m in moves] == [State.GRID_CONNECTED, State.ISLANDING, State.LOCKOUT]
    islanding, lockout = run.first(State.ISLANDING), run.first(State.LOCKOUT)
    assert islanding.at_s - run.grid_lost_seen_s(outage.start_s) <= TRIP_MARGIN_S
    assert lockout.at_s - islanding.at_s >= settings.breaker_operate_timeout_s
    assert lockout.from_state is State.ISLANDING
    assert [a.code for a in run.alarms] == [AlarmCode.BREAKER_FAILED_TO_OPEN]
    assert "backup trip fired" in run.alarms[0].message
    # one trip, then the backup trip — and nothing else, through the grid's return
    assert [point for _, point in run.commands()] == ["trip", "backup_trip"]
    backup = run.commands("backup_trip")[0][0]
    assert lockout.at_s <= backup <= lockout.at_s + TRIP_MARGIN_S
    # in the building: the breaker never moved, the upstream device opened
    breaker = run.physics.devices.breaker
    assert breaker.closed and breaker.upstream_open and not breaker.connected
    assert run.breaker_log("trip command: breaker failed to open") != []
    assert len(run.breaker_log("backup trip")) == 1
    assert run.breaker_log("breaker opened") == run.breaker_log("breaker closed") == []
    assert run.pins["status_52a"] and not run.pins["status_52b"]
    # lockout commands nothing, so the battery never formed an island: the building is
    # dark behind the open upstream device until someone looks at it
    assert run.physics_log("bus energized") == []
    assert run.gateway.grid_state is State.LOCKOUT
    ledger_alarms = [e.payload["code"] for e in run.ledger
                     if e.kind == "alarm" and e.payload["code"].startswith("ISL-")]
    assert ledger_alarms == [str(AlarmCode.BREAKER_FAILED_TO_OPEN)]


def test_a_breaker_that_fails_to_close_ends_in_lockout_and_the_island_holds(
    tmp_path: Path,
) -> None:
    scenario = scenario_file(tmp_path, "fails-to-close-window", """\
description: an outage; the breaker's closing mechanism is stuck from the outage on
start: "2026-06-22T12:58"
duration: 14min
seed: 5
battery_soc_pct: 80
events:
  - {at: "13:00", kind: outage, duration: 2min}
  - {at: "13:00", kind: breaker_fault, mode: fails_to_close, duration: 1h}
""")
    run = run_islanding(tmp_path, scenario, duration=timedelta(minutes=12), speed=SPEED,
                        replace=SHORT_DELAY)
    settings = run.gateway.config.islanding.resolved()
    outage = next(e for e in run.rig.timeline.grid if e.kind == "outage")
    moves = run.moves()
    assert [m[2] for m in moves] == [State.GRID_CONNECTED, State.ISLANDING, State.ISLANDED,
                                     State.RESYNCHRONISING, State.RECONNECTING,
                                     State.LOCKOUT], moves
    reconnecting, lockout = run.first(State.RECONNECTING), run.first(State.LOCKOUT)
    assert reconnecting.at_s >= outage.end_s + DELAY_S
    assert lockout.at_s - reconnecting.at_s >= settings.breaker_operate_timeout_s
    assert {a.code for a in run.alarms} - {AlarmCode.SYNC_CHECK_NOT_MET} == {
        AlarmCode.BREAKER_FAILED_TO_CLOSE}
    assert [a.code for a in run.alarms].count(AlarmCode.BREAKER_FAILED_TO_CLOSE) == 1
    # one trip for the outage, one close after the sync-check — no second close, no
    # backup trip (the breaker is open: there is nothing to back up)
    assert [point for _, point in run.commands()] == ["trip", "close"]
    assert run.commands("close")[0][0] >= reconnecting.at_s
    # in the building: the close failed, the breaker stayed open, the battery kept the
    # bus energised from the island's start to the end of the run
    breaker = run.physics.devices.breaker
    assert not breaker.closed and not breaker.upstream_open
    assert len(run.breaker_log("close command: breaker failed to close")) == 1
    assert run.physics_log("island tied to the grid") == []
    lit = run.physics_log("bus energized by the battery")
    assert len(lit) == 1
    assert [t for t in run.physics_log("bus de-energized") if lit[0] < t < run.until_s] == []
    assert not run.pins["status_52a"] and run.pins["status_52b"]
    assert run.gateway.grid_state is State.LOCKOUT


def test_boot_with_the_grid_absent_islands_only_on_measured_data(tmp_path: Path) -> None:
    """The gateway starts during an outage with the breaker still closed: grid sense says
    absent, so it opens at once — a decision from measured data, not from ``unknown``."""
    scenario = scenario_file(tmp_path, "boot-grid-absent", """\
description: the grid is out when the gateway starts
start: "2026-06-22T13:00"
duration: 12min
seed: 11
battery_soc_pct: 80
events:
  - {at: 0s, kind: outage, duration: 2min}
""")
    run = run_islanding(tmp_path, scenario, duration=timedelta(minutes=10), speed=SPEED,
                        replace=SHORT_DELAY)
    outage = run.rig.timeline.grid[0]
    first = run.transitions[0]
    assert (first.from_state, first.to_state) == (State.UNKNOWN, State.ISLANDING)
    assert first.measurements["breaker"] == "closed"
    assert first.measurements["grid_present"] == "False"
    assert first.at_s <= TRIP_MARGIN_S + run.rig.timeline.step_s
    assert [m[2] for m in run.moves()][:2] == [State.ISLANDING, State.ISLANDED]
    assert [point for _, point in run.commands()] == ["trip", "close"]
    breaker = run.physics.devices.breaker
    assert len(run.breaker_log("breaker opened")) == 1
    # the breaker opened and the battery formed the island within the building's first
    # physics step, so the bus (and every critical load) never went dark
    assert [t for t in run.physics_log("bus de-energized") if t < run.until_s] == []
    # and it reconnects only after the grid came back and held for the delay
    reconnected = run.first(State.GRID_CONNECTED)
    assert reconnected.at_s >= outage.end_s + DELAY_S
    assert reconnected.at_s <= run.until_s - 2, "run too short to see the close"
    assert breaker.connected and run.physics.out_of_sync_closures == 0
    assert {a.code for a in run.alarms} <= {AlarmCode.SYNC_CHECK_NOT_MET}


def test_boot_with_the_breaker_already_open_follows_into_the_island(tmp_path: Path) -> None:
    """The gateway restarts during an outage after the breaker was opened: it takes the
    building as islanded (no trip, no close from unknown data), forms the island, and
    reconnects only after the grid has been back for the delay."""
    scenario = scenario_file(tmp_path, "boot-breaker-open", """\
description: the breaker is open and the grid out when the gateway starts
start: "2026-06-22T13:00"
duration: 12min
seed: 13
battery_soc_pct: 80
events:
  - {at: 0s, kind: outage, duration: 2min}
""")
    run = run_islanding(tmp_path, scenario, duration=timedelta(minutes=10), speed=SPEED,
                        replace=SHORT_DELAY, breaker_open_at_start=True)
    outage = run.rig.timeline.grid[0]
    first = run.transitions[0]
    assert (first.from_state, first.to_state) == (State.UNKNOWN, State.ISLANDED)
    assert first.measurements["breaker"] == "open"
    # the gateway's grid-forming command went out before the simulated building took its
    # first step, so the bus never went dark while the gateway ran
    assert [t for t in run.physics_log("bus de-energized") if t < run.until_s] == []
    assert run.commands("trip", "backup_trip") == []
    closes = run.commands("close")
    assert len(closes) == 1 and closes[0][0] >= outage.end_s + DELAY_S
    assert closes[0][0] <= run.until_s - 2, "run too short to see the close"
    assert run.first(State.GRID_CONNECTED).at_s >= outage.end_s + DELAY_S
    assert run.physics.devices.breaker.connected
    assert run.physics.out_of_sync_closures == 0
    assert {a.code for a in run.alarms} <= {AlarmCode.SYNC_CHECK_NOT_MET}
