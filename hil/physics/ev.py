"""The EV charger and the vehicles that come and go.

Vehicles arrive with the energy their drivers ask for and a departure time. The charger
serves one vehicle at a time, in arrival order; when a vehicle is full the site attendant
moves the plug to the next waiting one, and a vehicle that leaves unserved takes its
shortfall with it. Charging power is three phases at the per-phase current limit,
3 × V_line-to-neutral × I, capped at the charger's rating (32 A at most). Once a client
has written the limit, silence for ``fallback_timeout_s`` makes the charger fall back to
0 A, as the real wallbox does when its controller goes quiet.
"""

from __future__ import annotations

from datetime import datetime

from hil.physics.events import EvSession
from hil.state import DeviceState, Value

FULL_CURRENT_A = 32.0
NOT_SET_EPOCH = 0xFFFFFFFF


class EvCharger:
    """Charger state, the session queue and energy delivered per vehicle."""

    def __init__(
        self,
        device: DeviceState,
        max_power_kw: float,
        sessions: tuple[EvSession, ...],
        start: datetime,
        nominal_voltage_v: float,
    ) -> None:
        self.device = device
        self.max_power_kw = max_power_kw
        self._kw_per_amp = 3.0 * nominal_voltage_v / 1000.0
        self.sessions = sorted(sessions, key=lambda s: (s.arrival_s, s.departure_s))
        self.delivered_kwh = [0.0] * len(self.sessions)
        self._start_epoch = start.timestamp()
        self._active = -1
        self._last_write_t: float | None = None
        self._now = 0.0
        self.demand_kw = 0.0
        self.power_kw = 0.0
        values = device.values
        values.setdefault("current_limit_a", FULL_CURRENT_A)
        values.setdefault("fallback_timeout_s", 60)
        values["power_kw"] = 0.0
        device.on_client_write(self._on_write)
        self._publish_session()

    def _on_write(self, point: str, value: Value) -> None:
        if point == "current_limit_a":
            self._last_write_t = self._now

    def apply_events(self, t: float) -> None:
        """Pick the vehicle on the plug at ``t`` (arrivals, departures, full batteries)."""
        self._active = -1
        for index, session in enumerate(self.sessions):
            if (
                session.arrival_s <= t < session.departure_s
                and self.delivered_kwh[index] < session.energy_kwh
            ):
                self._active = index
                break
        self._publish_session()

    def demand(self, t: float, dt: float) -> float:
        values = self.device.values
        self._now = t + dt
        if self._active < 0:
            self.demand_kw = 0.0
            return 0.0
        timeout = values.get("fallback_timeout_s")
        if (
            self._last_write_t is not None
            and isinstance(timeout, int | float)
            and t - self._last_write_t > timeout
        ):
            values["current_limit_a"] = 0.0
            self._last_write_t = None
        limit = values.get("current_limit_a")
        current = float(limit) if isinstance(limit, int | float) else 0.0
        current = min(max(current, 0.0), FULL_CURRENT_A)
        session = self.sessions[self._active]
        remaining_kwh = session.energy_kwh - self.delivered_kwh[self._active]
        power = min(self.max_power_kw, self._kw_per_amp * current)
        self.demand_kw = min(power, remaining_kwh * 3600.0 / dt)
        return self.demand_kw

    def commit(self, energized: bool, dt: float) -> float:
        self.power_kw = self.demand_kw if energized else 0.0
        values = self.device.values
        values["power_kw"] = self.power_kw
        if self._active >= 0 and self.power_kw > 0.0:
            self.delivered_kwh[self._active] += self.power_kw * dt / 3600.0
            values["session_energy_kwh"] = self.delivered_kwh[self._active]
            if self.delivered_kwh[self._active] >= self.sessions[self._active].energy_kwh - 1e-9:
                self.apply_events(self._now)
        return self.power_kw

    def _publish_session(self) -> None:
        values = self.device.values
        if self._active < 0:
            values["plugged_in"] = 0
            values["session_energy_kwh"] = 0.0
            values["energy_needed_kwh"] = 0.0
            values["departure_epoch_s"] = NOT_SET_EPOCH
            return
        session = self.sessions[self._active]
        values["plugged_in"] = 1
        values["session_energy_kwh"] = self.delivered_kwh[self._active]
        values["energy_needed_kwh"] = session.energy_kwh
        values["departure_epoch_s"] = int(self._start_epoch + session.departure_s)

    def shortfall_kwh(self) -> float:
        """Energy asked for but not delivered, over every session so far."""
        pairs = zip(self.sessions, self.delivered_kwh, strict=True)
        return sum(max(0.0, session.energy_kwh - done) for session, done in pairs)
