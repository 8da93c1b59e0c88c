"""The demo's pace: fast, slowed around grid events and while synchronising, and in real
time from a breaker command until the controller has seen the breaker move (its timings —
the 0.5 s verification, the slip while closing — are then real milliseconds)."""

from __future__ import annotations

from datetime import UTC, datetime

from drivers.clock import ScaledClock
from gateway.islanding.messages import State
from gateway.runtime.demo import OPERATION_SPEED, SLOW_SPEEDS, Pacer

START = datetime(2026, 6, 22, 7, tzinfo=UTC)


def test_real_time_from_the_close_command_until_the_breaker_is_seen_closed() -> None:
    clock = ScaledClock(START, 2000.0)
    pacer = Pacer(clock, 2000.0, START, event_times_s=[])
    pacer.grid_state(State.RESYNCHRONISING)
    assert clock.speed == SLOW_SPEEDS[State.RESYNCHRONISING]
    pacer.breaker_operation()  # the close command is about to go out
    assert clock.speed == OPERATION_SPEED
    pacer.grid_state(State.RECONNECTING)  # recorded after the command
    assert clock.speed == OPERATION_SPEED
    pacer.grid_state(State.GRID_CONNECTED)
    assert clock.speed == 2000.0


def test_a_trip_runs_in_real_time_until_the_island_is_confirmed_or_locked_out() -> None:
    clock = ScaledClock(START, 2000.0)
    pacer = Pacer(clock, 2000.0, START, event_times_s=[])
    pacer.grid_state(State.GRID_CONNECTED)
    pacer.breaker_operation()
    pacer.grid_state(State.ISLANDING)
    assert clock.speed == OPERATION_SPEED
    pacer.grid_state(State.ISLANDED)
    assert clock.speed == 2000.0
    pacer.grid_state(State.RESYNCHRONISING)
    pacer.breaker_operation()
    pacer.grid_state(State.LOCKOUT)
    assert clock.speed == 2000.0
