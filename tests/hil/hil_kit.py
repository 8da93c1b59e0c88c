"""Helpers for the HIL tests: the demo site, timelines and a tiny islanding script."""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from gateway.config import Site, load_site
from hil.physics import BuildingPhysics, Timeline, build_physics
from hil.scenario import load_scenario

REPO = Path(__file__).resolve().parents[2]
DEMO_SITE = REPO / "config" / "examples" / "demo-site.yaml"
ZONE = ZoneInfo("America/Los_Angeles")
START = datetime(2026, 6, 22, tzinfo=ZONE)


def demo_site() -> Site:
    return load_site(DEMO_SITE)


def timeline(**changes: object) -> Timeline:
    fields: dict[str, object] = {"name": "test", "start": START, "duration_s": 86400.0}
    fields.update(changes)
    return Timeline(**fields)  # type: ignore[arg-type]


def scenario_physics(name: str, seed: int | None = None) -> BuildingPhysics:
    site = demo_site()
    return build_physics(site, load_scenario(name).timeline(ZONE, seed=seed))


class IslandingScript:
    """The least a controller does: open and form on grid loss, close when it returns.

    Stands in for the gateway's islanding controller so the physics can be exercised
    through its own points (the commands a real controller would write).
    """

    def __init__(self, physics: BuildingPhysics, return_delay_s: float = 60.0) -> None:
        self.physics = physics
        self.return_delay_s = return_delay_s
        self._grid_back_since: float | None = None

    def __call__(self) -> None:
        state = self.physics.state
        breaker = state.device("pcc_breaker")
        battery = state.device("battery")
        present = bool(state.device("grid_sense").get("grid_present"))
        closed = bool(breaker.get("status_52a"))
        t = self.physics.t
        if not present and closed and not self.physics.devices.breaker.upstream_open:
            breaker.client_write("trip", True)
            breaker.client_write("trip", False)
            battery.client_write("mode", 1)
            self._grid_back_since = None
        elif present and not closed:
            if self._grid_back_since is None:
                self._grid_back_since = t
            elif t - self._grid_back_since >= self.return_delay_s:
                breaker.client_write("close", True)
                breaker.client_write("close", False)
                battery.client_write("mode", 0)
                self._grid_back_since = None


def _free_port(kind: socket.SocketKind) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class PrivateSite:
    """A copy of the demo site on free ports, with its files under a temporary folder."""

    path: Path
    tcp_ports: list[int]
    udp_ports: list[int]


def private_demo_site(folder: Path) -> PrivateSite:
    """The demo site rewritten so a test can run the whole rig without clashing."""
    text = DEMO_SITE.read_text(encoding="utf-8")
    tcp = {old: _free_port(socket.SOCK_STREAM) for old in (15020, 15021, 15022, 15023, 4841,
                                                           18080)}
    udp = {old: _free_port(socket.SOCK_DGRAM) for old in (47811, 47812, 47813, 47814)}
    ports = {**tcp, **udp}
    pattern = "|".join(str(old) for old in ports)
    text = re.sub(rf"\b({pattern})\b", lambda match: str(ports[int(match.group(1))]), text)
    text = text.replace("../../state/demo", str(folder / "state"))
    path = folder / "site.yaml"
    path.write_text(text, encoding="utf-8")
    return PrivateSite(path, list(tcp.values()), list(udp.values()))


def port_is_free(port: int, kind: socket.SocketKind) -> bool:
    with socket.socket(socket.AF_INET, kind) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True
