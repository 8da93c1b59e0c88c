"""What ``temix-gateway discover modbus`` finds on one unit id, and its site-file entry."""

from __future__ import annotations

from dataclasses import dataclass, field

from drivers.base import DriverError
from drivers.modbus import sunspec
from drivers.modbus.client import ModbusLink, SerialEndpoint, TcpEndpoint


@dataclass
class Finding:
    unit: int
    chain: sunspec.SunspecMap | None = None
    common: dict[str, str] = field(default_factory=dict)
    error: DriverError | None = None

    @property
    def nature(self) -> str | None:
        return sunspec.nature_of(self.chain.ids) if self.chain else None

    @property
    def profile(self) -> str | None:
        return sunspec.shipped_profile(self.chain.ids) if self.chain else None


async def probe(link: ModbusLink, unit: int) -> Finding:
    """SunSpec discovery and common model 1 on one unit id; link errors are in ``error``."""

    async def read(address: int, count: int) -> list[int]:
        return await link.read("holding", address, count, unit)

    finding = Finding(unit)
    try:
        finding.chain = await sunspec.discover(read)
        if finding.chain is not None:
            finding.common = await sunspec.read_common(read, finding.chain)
    except DriverError as err:
        finding.error = err
    return finding


def connection_yaml(endpoint: TcpEndpoint | SerialEndpoint, unit: int) -> str:
    if isinstance(endpoint, TcpEndpoint):
        return (f"{{kind: modbus_tcp, host: {endpoint.host}, port: {endpoint.port}, "
                f"unit: {unit}}}")
    return (f"{{kind: modbus_rtu, port: {endpoint.port}, baud: {endpoint.baud}, "
            f"parity: {endpoint.parity}, unit: {unit}}}")


def render(finding: Finding, endpoint: TcpEndpoint | SerialEndpoint) -> str:
    """A ready-to-paste ``devices:`` entry, or what to do when there is none."""
    where = f"{endpoint.describe()} unit {finding.unit}"
    if finding.error is not None:
        return f"# {where}: no answer ({finding.error}); check address, port and unit id\n"
    if finding.chain is None:
        return (f"# {where}: answers Modbus but has no SunSpec marker ('SunS' at 40000, 0 or "
                "50000).\n# Not a SunSpec device: pick a profile in config/profiles/ or write "
                "one from its vendor register sheet (docs/drivers.md, 'Writing a profile').\n")
    chain = finding.chain
    info = ", ".join(f"{k} {v}" for k, v in finding.common.items() if v)
    lines = [f"# {where}: SunSpec at base {chain.base}; models "
             + ", ".join(f"{m.id} (L={m.length})" for m in chain.models)]
    if info:
        lines.append(f"# {info}")
    nature, profile = finding.nature, finding.profile
    if profile is None:
        lines.append("# no shipped profile covers these models: copy the nearest "
                     "config/profiles/sunspec-*.yaml, adjust models and offsets, and name it "
                     "under 'profile:'")
    slug = (finding.common.get("serial_number") or f"unit_{finding.unit}").lower()
    device_id = "".join(c if c.isalnum() else "_" for c in f"{nature or 'device'}_{slug}")
    lines += [
        f"  - id: {device_id}",
        f"    nature: {nature or 'meter'}",
        f"    profile: {profile or 'YOUR-PROFILE'}",
        f"    connection: {connection_yaml(endpoint, finding.unit)}",
    ]
    return "\n".join(lines) + "\n"
