"""The demo site on free loopback ports, for tests that run the whole rig (and gateway).

Every fixed port of config/examples/demo-site.yaml (Modbus TCP, OPC UA, the counterparty,
the BACnet devices and the gateway's own BACnet port) is replaced by a free one and the
state paths point into a temporary folder, so tests never clash with a running demo.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEMO_SITE = REPO / "config" / "examples" / "demo-site.yaml"
DEMO_TCP_PORTS = (15020, 15021, 15022, 15023, 4841, 18080)
DEMO_UDP_PORTS = (47808, 47811, 47812, 47813, 47814)

TARIFF = """\
tariff:
  utility_id: city-power
  import_per_kwh: 0.22
  export_per_kwh: 0.05
  time_of_use:
    - {start: "16:00", end: "21:00", import_per_kwh: 0.48}
    - {start: "23:00", end: "06:00", import_per_kwh: 0.12, export_per_kwh: 0.02}
"""
"""A time-of-use tariff section (site-file YAML) for tests of sites without a provider."""


def free_port(kind: socket.SocketKind) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_free(port: int, kind: socket.SocketKind) -> bool:
    with socket.socket(socket.AF_INET, kind) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@dataclass
class PrivateSite:
    """A copy of the demo site on free ports, with its files under a temporary folder."""

    path: Path
    tcp_ports: list[int]
    udp_ports: list[int]


def private_demo_site(folder: Path, replace: dict[str, str] | None = None) -> PrivateSite:
    """The demo site rewritten so a test can run the whole rig without clashing;
    ``replace`` edits the text further (old → new) for a test's own variant."""
    text = DEMO_SITE.read_text(encoding="utf-8")
    tcp = {old: free_port(socket.SOCK_STREAM) for old in DEMO_TCP_PORTS}
    udp = {old: free_port(socket.SOCK_DGRAM) for old in DEMO_UDP_PORTS}
    ports = {**tcp, **udp}
    pattern = "|".join(str(old) for old in ports)
    text = re.sub(rf"\b({pattern})\b", lambda match: str(ports[int(match.group(1))]), text)
    text = text.replace("../../state/demo", str(folder / "state"))
    for old, new in (replace or {}).items():
        assert old in text, f"{old!r} is not in the demo site"
        text = text.replace(old, new)
    path = folder / "site.yaml"
    path.write_text(text, encoding="utf-8")
    return PrivateSite(path, list(tcp.values()), list(udp.values()))
