"""The islanding decision logic: a pure state machine, time passed in, no I/O.

``step(now_s, inputs)`` looks at one snapshot of measurements and returns the commands
the devices must carry out and the events (transitions, alarms) the runtime records.
States and what moves between them are described in docs/islanding.md. Two rules shape
everything here:

- no decision from unknown data: a missing measurement never passes a check;
- every breaker command is verified against the 52a/52b contacts within the operate time,
  and a breaker that does not move ends in LOCKOUT — never a retry. LOCKOUT issues no
  command at all until an operator resets it.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum

from gateway.islanding.detection import TIME_EPSILON_S, MustTripDetector, Trip
from gateway.islanding.messages import (
    AlarmCode,
    BreakerStatus,
    CloseBreaker,
    FireBackupTrip,
    Inputs,
    MarketMode,
    OpenBreaker,
    OperatorCommand,
    Output,
    RaiseAlarm,
    RequestResult,
    RestoreLoad,
    SetMarketMode,
    SetPccFlowTarget,
    SetStorageMode,
    ShedLoad,
    State,
    StorageMode,
    Transition,
)
from gateway.islanding.settings import ResolvedIslandingSettings
from gateway.islanding.shedding import (
    fits_after_restore,
    loads_to_shed,
    next_to_shed,
    restore_candidate,
    served_demand_kw,
)
from gateway.islanding.synccheck import sync_summary, sync_violation, window_violation

# Raise STARTUP_DATA_MISSING when the controller is still UNKNOWN this long after start.
STARTUP_ALARM_AFTER_S = 30.0
# Raise SYNC_CHECK_NOT_MET when the sync-check has not passed this long into resync.
SYNC_ALARM_AFTER_S = 180.0  # a slow slip (0.01 Hz) takes 100 s per cycle
# Below this grid voltage a missing frequency reading is expected, not a meter fault.
LIVE_GRID_MIN_PU = 0.5
ISLAND_LIVE_ARM_S = 5.0
"""The island bus must have been live this long before losing it counts as a collapse (a
reading from before the outage, or the battery still forming the bus, is not one)."""
# A state change can enable the next one in the same step (e.g. boot, then trip);
# this bounds the chain.
_MAX_CHAINED_STATES = 4


class _IslandingPhase(Enum):
    RAMPING = "ramping"  # planned island: driving PCC flow to zero before opening
    OPENING = "opening"  # open commanded, waiting for the status contacts


class IslandingController:
    """Decides when to island and when to reconnect the building at the PCC."""

    def __init__(self, settings: ResolvedIslandingSettings) -> None:
        self._settings = settings
        self._state = State.UNKNOWN
        self._detector = MustTripDetector(settings.trips)
        self._pending: list[OperatorCommand] = []
        self._out: list[Output] = []
        self._now = 0.0
        self._inputs = Inputs()
        self._started_at: float | None = None
        self._phase = _IslandingPhase.OPENING
        self._planned = False
        self._planned_cause = ""
        self._hold_island = False
        self._phase_started_at = 0.0
        self._breaker_commanded_at = 0.0
        self._window_since: float | None = None
        self._resync_since = 0.0
        self._shed: list[str] = []
        self._shed_demand_kw: dict[str, float] = {}
        self._last_load_step_at: float | None = None
        self._island_live_since: float | None = None
        self._active_alarms: set[AlarmCode] = set()

    @property
    def state(self) -> State:
        return self._state

    @property
    def shed_loads(self) -> tuple[str, ...]:
        """Loads this controller has shed and not yet restored, in shed order."""
        return tuple(self._shed)

    @property
    def holding_island(self) -> bool:
        """True after a planned island, until a planned reconnect releases it."""
        return self._hold_island

    def request(self, command: OperatorCommand) -> RequestResult:
        """Queue an operator command for the next step, if the current state allows it."""
        result = self._check_request(command)
        if result.accepted:
            self._pending.append(command)
        return result

    def step(self, now_s: float, inputs: Inputs) -> list[Output]:
        """Advance to ``now_s`` with the latest measurements; commands and events, in order."""
        self._now, self._inputs, self._out = now_s, inputs, []
        if self._started_at is None:
            self._started_at = now_s
        commands = [*self._pending]
        if inputs.operator_command is not None:
            commands.append(inputs.operator_command)
        self._pending.clear()
        for command in commands:
            if self._check_request(command).accepted:
                self._apply_operator(command)
        for _ in range(_MAX_CHAINED_STATES):
            before = self._state
            self._handlers()[self._state]()
            if self._state is before:
                break
        return self._out

    # -- operator commands -------------------------------------------------------------

    def _check_request(self, command: OperatorCommand) -> RequestResult:
        state = self._state
        if command is OperatorCommand.RESET_LOCKOUT:
            if state is State.LOCKOUT:
                return RequestResult(True, "lockout reset: re-evaluating from UNKNOWN")
            return RequestResult(False, f"not in lockout (state is {state})")
        if command is OperatorCommand.PLANNED_ISLAND:
            if state in (State.GRID_CONNECTED, State.ISLANDED, State.RESYNCHRONISING):
                return RequestResult(True, "planned island: the building stays islanded")
            return RequestResult(False, f"cannot start a planned island in state {state}")
        if state in (State.ISLANDED, State.RESYNCHRONISING):
            return RequestResult(
                True, "reconnects once the grid has been stable for the enter-service delay"
            )
        return RequestResult(False, f"cannot reconnect in state {state}")

    def _apply_operator(self, command: OperatorCommand) -> None:
        if command is OperatorCommand.RESET_LOCKOUT:
            self._reset_after_lockout()
        elif command is OperatorCommand.PLANNED_RECONNECT:
            self._hold_island = False
        elif self._state is State.GRID_CONNECTED:
            self._start_planned_island()
        else:
            self._hold_island = True
            if self._state is State.RESYNCHRONISING:
                self._transition(State.ISLANDED, "operator: planned island, stay islanded")

    def _reset_after_lockout(self) -> None:
        self._transition(State.UNKNOWN, "operator: lockout reset")
        self._started_at = self._now
        self._hold_island = False
        self._planned = False
        self._window_since = None
        self._detector.reset()
        self._active_alarms.clear()

    # -- state handlers ----------------------------------------------------------------

    def _handlers(self) -> dict[State, Callable[[], None]]:
        return {
            State.UNKNOWN: self._while_unknown,
            State.GRID_CONNECTED: self._while_grid_connected,
            State.ISLANDING: self._while_islanding,
            State.ISLANDED: self._while_islanded,
            State.RESYNCHRONISING: self._while_resynchronising,
            State.RECONNECTING: self._while_reconnecting,
            State.LOCKOUT: self._while_lockout,
        }

    def _while_unknown(self) -> None:
        inputs, breaker = self._inputs, self._inputs.breaker
        if breaker is BreakerStatus.OPEN:
            self._enter_islanded("start: PCC breaker found open")
        elif breaker is BreakerStatus.CLOSED and inputs.grid_present is False:
            self._start_islanding("start: grid sense reports the grid absent, breaker closed")
        elif breaker is BreakerStatus.CLOSED and self._grid_measured():
            self._enter_grid_connected("start: PCC breaker closed, grid measurements valid")
        elif self._elapsed(self._started_since(), STARTUP_ALARM_AFTER_S):
            self._alarm_once(
                AlarmCode.STARTUP_DATA_MISSING,
                f"no islanding decision possible: breaker status {breaker}, "
                f"grid voltage {inputs.grid_voltage_pu}, frequency {inputs.grid_frequency_hz}; "
                "check the PCC meter and the breaker's 52a/52b status inputs",
            )

    def _while_grid_connected(self) -> None:
        if self._follow_uncommanded_open():
            return
        self._watch_breaker_status()
        self._watch_pcc_measurements()
        trip_cause = self._detect_grid_loss()
        if trip_cause is not None:
            self._start_islanding(trip_cause)
            return
        self._restore_on_grid()

    def _while_islanding(self) -> None:
        if self._phase is _IslandingPhase.RAMPING:
            self._while_ramping()
            return
        if self._inputs.breaker is BreakerStatus.OPEN:
            self._enter_islanded(self._open_verified_cause())
        elif self._elapsed(self._breaker_commanded_at, self._settings.breaker_operate_timeout_s):
            self._breaker_failed_to_open()

    def _while_ramping(self) -> None:
        if self._inputs.breaker is BreakerStatus.OPEN:
            self._raise(
                AlarmCode.BREAKER_OPENED_UNCOMMANDED,
                "PCC breaker opened during the planned-island ramp without a command",
            )
            self._command_open()
            self._enter_islanded("PCC breaker opened without a command during planned island")
            return
        trip_cause = self._detect_grid_loss()
        if trip_cause is not None:
            self._command_open()
            self._planned_cause = f"planned island cut short: {trip_cause}"
            return
        pcc_kw = self._inputs.pcc_power_kw
        if pcc_kw is not None and abs(pcc_kw) <= self._settings.planned_island_pcc_threshold_kw:
            self._command_open()
            self._planned_cause = f"planned island: PCC flow {pcc_kw:.3g} kW at opening"
        elif self._elapsed(self._phase_started_at, self._settings.planned_island_timeout_s):
            self._command_open()
            self._planned_cause = (
                f"planned island: PCC flow {pcc_kw} kW still above "
                f"{self._settings.planned_island_pcc_threshold_kw:g} kW after "
                f"{self._settings.planned_island_timeout_s:g} s, opened anyway"
            )

    def _while_islanded(self) -> None:
        if self._follow_uncommanded_close():
            return
        self._watch_breaker_status()
        self._manage_island_loads()
        self._track_window()
        if self._hold_island or self._window_since is None:
            return
        delay = self._settings.enter_service.delay_s
        if self._elapsed(self._window_since, delay):
            self._resync_since = self._now
            self._transition(
                State.RESYNCHRONISING,
                f"grid inside the enter-service window for {self._now - self._window_since:.4g} s "
                f"(delay {delay:g} s)",
            )

    def _while_resynchronising(self) -> None:
        if self._follow_uncommanded_close():
            return
        self._watch_breaker_status()
        self._manage_island_loads()
        excursion = self._track_window()
        if excursion is not None:
            self._transition(State.ISLANDED, f"grid left the enter-service window: {excursion}")
            return
        not_in_sync = sync_violation(self._settings.sync_check, self._inputs)
        if not_in_sync is None:
            self._breaker_commanded_at = self._now
            self._out.append(CloseBreaker())
            self._transition(State.RECONNECTING, f"sync-check passed: {sync_summary(self._inputs)}")
        elif self._elapsed(self._resync_since, SYNC_ALARM_AFTER_S):
            self._alarm_once(
                AlarmCode.SYNC_CHECK_NOT_MET,
                f"grid stable but island not in sync after {SYNC_ALARM_AFTER_S:g} s: "
                f"{not_in_sync}; check the storage inverter's synchronisation",
            )

    def _while_reconnecting(self) -> None:
        if self._inputs.breaker is BreakerStatus.CLOSED:
            self._enter_grid_connected("PCC breaker close verified by 52a/52b")
        elif self._elapsed(self._breaker_commanded_at, self._settings.breaker_operate_timeout_s):
            self._raise(
                AlarmCode.BREAKER_FAILED_TO_CLOSE,
                f"PCC breaker did not report closed within "
                f"{self._settings.breaker_operate_timeout_s:g} s (status {self._inputs.breaker}); "
                "building stays islanded in LOCKOUT; inspect the breaker, then reset",
            )
            self._transition(State.LOCKOUT, "PCC breaker failed to close")

    def _while_lockout(self) -> None:
        """Nothing is commanded in lockout; only an operator reset leaves it."""

    # -- entering states ---------------------------------------------------------------

    def _start_islanding(self, cause: str) -> None:
        self._planned = False
        self._transition(State.ISLANDING, cause)
        self._command_open()

    def _start_planned_island(self) -> None:
        self._planned = True
        self._hold_island = True
        self._phase = _IslandingPhase.RAMPING
        self._phase_started_at = self._now
        self._planned_cause = "planned island"
        self._transition(State.ISLANDING, "operator: planned island")
        self._out.append(SetPccFlowTarget(0.0))
        self._shed_to_fit()

    def _command_open(self) -> None:
        self._phase = _IslandingPhase.OPENING
        self._breaker_commanded_at = self._now
        self._out.append(OpenBreaker())

    def _open_verified_cause(self) -> str:
        verified = "PCC breaker open verified by 52a/52b"
        return f"{verified} ({self._planned_cause})" if self._planned else verified

    def _enter_islanded(self, cause: str) -> None:
        self._island_live_since = None
        self._transition(State.ISLANDED, cause)
        self._shed_to_fit()
        self._out.append(SetStorageMode(StorageMode.GRID_FORMING))
        if self._planned:
            self._out.append(SetPccFlowTarget(None))
        self._out.append(SetMarketMode(MarketMode.ISLANDED))
        self._planned = False
        self._window_since = None

    def _enter_grid_connected(self, cause: str) -> None:
        self._transition(State.GRID_CONNECTED, cause)
        self._detector.reset()
        self._out.append(SetStorageMode(StorageMode.GRID_FOLLOWING))
        self._out.append(SetMarketMode(MarketMode.GRID_CONNECTED))
        self._last_load_step_at = self._now

    def _breaker_failed_to_open(self) -> None:
        backup = self._settings.backup_trip_output
        self._raise(
            AlarmCode.BREAKER_FAILED_TO_OPEN,
            f"PCC breaker did not report open within "
            f"{self._settings.breaker_operate_timeout_s:g} s (status {self._inputs.breaker}); "
            + ("backup trip fired; " if backup else "no backup trip configured; ")
            + "the building may still be connected to a failed grid: inspect the breaker",
        )
        if backup:
            self._out.append(FireBackupTrip())
        self._transition(State.LOCKOUT, "PCC breaker failed to open")

    # -- checks shared by several states -----------------------------------------------

    def _grid_measured(self) -> bool:
        return bool(self._inputs.grid_voltage_pu) and self._inputs.grid_frequency_hz is not None

    def _started_since(self) -> float:
        return self._now if self._started_at is None else self._started_at

    def _grid_energised(self) -> bool:
        """Frequency is only measurable on a live grid; below this a meter reports none."""
        volts = self._inputs.grid_voltage_pu
        return bool(volts) and min(volts or (0.0,)) >= LIVE_GRID_MIN_PU

    def _detect_grid_loss(self) -> str | None:
        inputs = self._inputs
        trip: Trip | None = self._detector.update(
            self._now, inputs.grid_voltage_pu, inputs.grid_frequency_hz
        )
        if inputs.grid_present is False:
            return "grid sense reports the grid absent"
        return None if trip is None else trip.cause

    def _follow_uncommanded_open(self) -> bool:
        if self._inputs.breaker is not BreakerStatus.OPEN:
            return False
        self._raise(
            AlarmCode.BREAKER_OPENED_UNCOMMANDED,
            "PCC breaker opened without a command (protection trip?); islanding",
        )
        self._start_islanding("PCC breaker opened without a command")
        return True

    def _follow_uncommanded_close(self) -> bool:
        if self._inputs.breaker is not BreakerStatus.CLOSED:
            return False
        self._raise(
            AlarmCode.BREAKER_CLOSED_UNCOMMANDED,
            "PCC breaker closed without a command while islanded; storage switched to "
            "grid-following; find out who closed it",
        )
        self._enter_grid_connected("PCC breaker closed without a command")
        return True

    def _watch_breaker_status(self) -> None:
        if self._inputs.breaker is BreakerStatus.INCONSISTENT:
            self._alarm_once(
                AlarmCode.BREAKER_STATUS_INCONSISTENT,
                f"PCC breaker status contacts disagree (52a={self._inputs.breaker_52a}, "
                f"52b={self._inputs.breaker_52b}); check the auxiliary contacts and wiring",
            )
        elif self._inputs.breaker is not BreakerStatus.UNKNOWN:
            self._active_alarms.discard(AlarmCode.BREAKER_STATUS_INCONSISTENT)

    def _watch_pcc_measurements(self) -> None:
        inputs = self._inputs
        missing = [
            name
            for name, is_missing in (
                ("grid voltage", not inputs.grid_voltage_pu),
                ("grid frequency", inputs.grid_frequency_hz is None and self._grid_energised()),
                ("breaker status", inputs.breaker is BreakerStatus.UNKNOWN),
            )
            if is_missing
        ]
        if missing:
            self._alarm_once(
                AlarmCode.PCC_MEASUREMENTS_MISSING,
                f"missing at the PCC: {', '.join(missing)}; must-trip detection relies on the "
                "grid sense input until they return; check the PCC meter",
            )
        else:
            self._active_alarms.discard(AlarmCode.PCC_MEASUREMENTS_MISSING)

    def _track_window(self) -> str | None:
        """Restart the enter-service timer on any excursion; the excursion, if any."""
        excursion = window_violation(self._settings.enter_service, self._inputs)
        if excursion is not None:
            self._window_since = None
        elif self._window_since is None:
            self._window_since = self._now
        return excursion

    # -- loads -------------------------------------------------------------------------

    def _shed_load(self, device_id: str) -> None:
        demand = self._inputs.load_demand_kw.get(device_id)
        if demand is not None:
            self._shed_demand_kw[device_id] = demand
        self._shed.append(device_id)
        self._last_load_step_at = self._now
        self._out.append(ShedLoad(device_id))

    def _restore_load(self, device_id: str) -> None:
        self._shed.remove(device_id)
        self._last_load_step_at = self._now
        self._out.append(RestoreLoad(device_id))

    def _shed_to_fit(self) -> None:
        inputs = self._inputs
        for device_id in loads_to_shed(
            self._settings.load_shed_order,
            self._shed,
            inputs.load_demand_kw,
            inputs.critical_demand_kw,
            inputs.island_supply_kw,
        ):
            self._shed_load(device_id)

    def _load_step_due(self) -> bool:
        last = self._last_load_step_at
        return last is None or self._elapsed(last, self._settings.restore_step_interval_s)

    def _restore_on_grid(self) -> None:
        candidate = restore_candidate(self._settings.load_shed_order, self._shed)
        if candidate is not None and self._load_step_due():
            self._restore_load(candidate)

    def _island_bus_collapsed(self) -> bool:
        """The island bus lost its voltage after it had been live: shed every load so the
        battery's restart picks up the critical loads alone (cold-load pickup); they come
        back one step at a time once the bus is live again."""
        volts = self._inputs.island_voltage_pu
        if volts is None:
            return False
        if min(volts) >= LIVE_GRID_MIN_PU:
            if self._island_live_since is None:
                self._island_live_since = self._now
            self._active_alarms.discard(AlarmCode.ISLAND_COLLAPSED)
            return False
        live_since, self._island_live_since = self._island_live_since, None
        if live_since is None or not self._elapsed(live_since, ISLAND_LIVE_ARM_S):
            # still forming (or a reading from before the outage): not a collapse
            return AlarmCode.ISLAND_COLLAPSED in self._active_alarms
        self._alarm_once(
            AlarmCode.ISLAND_COLLAPSED,
            f"island bus voltage lost ({min(volts):.2f} pu) while islanded: the battery "
            "tripped or was overloaded; every listed load shed, restoring in shed order once "
            "the bus is back",
        )
        for device_id in self._settings.load_shed_order:
            if device_id not in self._shed:
                self._shed_load(device_id)
        return True

    def _manage_island_loads(self) -> None:
        if self._island_bus_collapsed():
            return
        inputs, order = self._inputs, self._settings.load_shed_order
        supply, critical = inputs.island_supply_kw, inputs.critical_demand_kw
        if supply is not None and critical is not None:
            if served_demand_kw(critical, inputs.load_demand_kw, self._shed) > supply:
                self._shed_to_fit()
            if critical > supply:
                self._alarm_once(
                    AlarmCode.ISLAND_OVERLOADED,
                    f"critical demand {critical:.3g} kW exceeds island supply {supply:.3g} kW; "
                    "every sheddable load is off; reduce critical load or add generation",
                )
            else:
                self._active_alarms.discard(AlarmCode.ISLAND_OVERLOADED)
        if self._battery_near_reserve():
            candidate = next_to_shed(order, self._shed)
            if candidate is not None and self._load_step_due():
                self._shed_load(candidate)
            return
        if not self._battery_allows_restore() or not self._load_step_due():
            return
        candidate = restore_candidate(order, self._shed)
        if candidate is not None and fits_after_restore(
            candidate, self._shed, inputs.load_demand_kw, self._shed_demand_kw, critical, supply
        ):
            self._restore_load(candidate)

    def _battery_near_reserve(self) -> bool:
        soc, reserve = self._inputs.battery_soc_pct, self._inputs.battery_reserve_soc_pct
        if soc is None or reserve is None:
            return False
        near = soc <= reserve + self._settings.soc_floor_margin_pct
        if near:
            self._alarm_once(
                AlarmCode.BATTERY_NEAR_RESERVE,
                f"battery SoC {soc:.3g} % within {self._settings.soc_floor_margin_pct:g} % of "
                f"its reserve {reserve:.3g} %; shedding further loads in shed order",
            )
        return near

    def _battery_allows_restore(self) -> bool:
        """Restore only with a clear SoC margin (twice the shed margin, as hysteresis)."""
        soc, reserve = self._inputs.battery_soc_pct, self._inputs.battery_reserve_soc_pct
        if soc is None:
            return False
        floor = reserve if reserve is not None else 0.0
        allowed = soc >= floor + 2 * self._settings.soc_floor_margin_pct
        if allowed:
            self._active_alarms.discard(AlarmCode.BATTERY_NEAR_RESERVE)
        return allowed

    # -- output helpers ----------------------------------------------------------------

    def _elapsed(self, since_s: float, duration_s: float) -> bool:
        return self._now - since_s + TIME_EPSILON_S >= duration_s

    def _transition(self, to_state: State, cause: str) -> None:
        self._out.append(
            Transition(self._state, to_state, cause, self._inputs.snapshot(), self._now)
        )
        self._state = to_state

    def _raise(self, code: AlarmCode, message: str) -> None:
        self._out.append(RaiseAlarm(code, message, self._now))

    def _alarm_once(self, code: AlarmCode, message: str) -> None:
        if code not in self._active_alarms:
            self._active_alarms.add(code)
            self._raise(code, message)
