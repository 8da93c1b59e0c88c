"""Runtime benchmark: a simulated demo day with the gateway in the loop, and a synthetic
site of 1,000 simulated devices (start to READY, RSS).

    python -m bench.day                 # both parts, each in its own process
    python -m bench.day --part demo     # the demo day only
    python -m bench.day --part devices  # the 1,000-device site only (--devices N)

Run from the repository root with ``-m`` (bench/market.py would shadow the market
package if this file were run by path). Every part runs on free loopback ports in a
temporary folder; figures are printed, nothing is asserted (targets: demo day ≤ 60 s;
1,000 devices ≤ 150 MB RSS and READY ≤ 3 s after the devices answer).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import resource
import socket
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from drivers.clock import RealClock
from gateway.config import load_site
from gateway.runtime.app import Gateway

# The gateway process imports what the service imports (the ``temix-gateway`` command line
# with all its subcommands; hil, the demo and the test kit are imported where used), so its
# RSS is the service's own.

DEVICES = 1000
UNITS_PER_PORT = 200
POLL_INTERVAL_S = 5
DEMO_SPEED = 2000.0  # the demo command's default


def rss_mb() -> float:
    """Resident set size now, in MB (from /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- the demo day ------------------------------------------------------------------------

def demo_day() -> dict[str, Any]:
    from gateway.runtime.demo import run_demo
    from hil.scenario import load_scenario
    from tests.sitekit import private_demo_site

    with tempfile.TemporaryDirectory() as folder:
        site = load_site(private_demo_site(Path(folder)).path)
        started = time.monotonic()
        summary = asyncio.run(run_demo(site, load_scenario("outage"), speed=DEMO_SPEED,
                                       duration=timedelta(hours=24), seed=None,
                                       emit=lambda line: None))
        return {"wall_s": round(time.monotonic() - started, 1),
                "peak_rss_mb": round(peak_rss_mb(), 1), "rounds": summary.rounds,
                "transactions": summary.transactions,
                "ledger_verified": summary.ledger_verified}


# -- the synthetic 1,000-device site ---------------------------------------------------

def synthetic_site(folder: Path, devices: int, ports: list[int]) -> Path:
    """Modbus TCP load meters (SunSpec 203), UNITS_PER_PORT unit ids per port, each with a
    fixed-load agent; the demo site's market; no provider, no breaker (islanding off)."""
    from tests.sitekit import DEMO_SITE

    demo = DEMO_SITE.read_text(encoding="utf-8")
    header = demo[:demo.index("devices:\n")]
    market = demo[demo.index("market:\n"):demo.index("external_market:\n")]
    lines = ["devices:"]
    for n in range(devices):
        port = ports[n // UNITS_PER_PORT]
        lines += [f"  - id: load_{n:04d}", "    nature: load", "    profile: sunspec-meter-203",
                  f"    connection: {{kind: modbus_tcp, host: 127.0.0.1, port: {port}, "
                  f"unit: {n % UNITS_PER_PORT + 1}}}",
                  f"    poll_interval_s: {POLL_INTERVAL_S}",
                  "    agent: {personality: fixed_load, priority: 5}"]
    storage = (f"storage:\n  database: {folder / 'ledger.db'}\n"
               f"  state_directory: {folder / 'state'}\n")
    text = header.replace("../../", str(DEMO_SITE.parent.parent.parent) + "/")
    path = folder / "site.yaml"
    path.write_text(text + "\n".join(lines) + "\n\n" + market + storage, encoding="utf-8")
    return path


async def serve_devices(site_file: Path) -> None:
    """The simulator process: serve every device, say so, run until stdin closes."""
    from hil.site_devices import SiteDevices
    from hil.state import BuildingState

    site = load_site(site_file)
    state = BuildingState()
    for device in site.config.devices:
        state.device(device.id).values.update({"power_kw": 5.0, "voltage_a_v": 277.0,
                                               "frequency_hz": 60.0})
    async with SiteDevices(site, state, RealClock()):
        print("listening", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


async def gateway_to_ready(site_file: Path, steady_s: float) -> dict[str, Any]:
    import gateway.cli  # the service's imports: ``temix-gateway run``

    site = load_site(site_file)
    baseline = rss_mb()
    started = time.monotonic()
    stop = asyncio.Event()
    async with Gateway(site, RealClock()) as gateway:
        started_up = time.monotonic()
        running = asyncio.create_task(gateway.run(stop=stop))
        while not gateway.status.ready:
            await asyncio.sleep(0.005)
        ready = time.monotonic()
        faults = len(gateway.poller.faults())
        first_round = {k: round(v, 2) for k, v in gateway.status.rounds[0].timings_s.items()}
        start = {k: round(v, 2) for k, v in gateway.status.start_timings_s.items()}
        rss = rss_mb()
        await asyncio.sleep(steady_s)  # steady polling
        steady = rss_mb()
        stop.set()
        await running
    return {"devices": len(site.config.devices), "started_s": round(started_up - started, 2),
            "ready_s": round(ready - started, 2), "faults_at_ready": faults,
            "start_s": start, "first_round_s": first_round,
            "rss_before_start_mb": round(baseline, 1), "rss_at_ready_mb": round(rss, 1),
            "rss_polling_mb": round(steady, 1), "peak_rss_mb": round(peak_rss_mb(), 1)}


def devices_part(devices: int) -> dict[str, Any]:
    from tests.sitekit import free_port

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ports = [free_port(socket.SOCK_STREAM) for _ in range(-(-devices // UNITS_PER_PORT))]
        site_file = synthetic_site(folder, devices, ports)
        sim = subprocess.Popen([sys.executable, "-m", "bench.day", "--part", "serve",
                                "--site", str(site_file)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
        try:
            assert sim.stdout is not None
            waited = time.monotonic()
            line = sim.stdout.readline()
            if line.strip() != "listening":
                raise RuntimeError(f"the device simulator did not start: {line!r}")
            sim_start_s = time.monotonic() - waited
            figures = _gateway_process(site_file, "gateway")
            figures["simulator_start_s"] = round(sim_start_s, 2)
            figures["restart"] = _gateway_process(site_file, "gateway-restart")
            return figures
        finally:
            if sim.stdin is not None:
                sim.stdin.close()
            sim.wait(timeout=30)


def _gateway_process(site_file: Path, part: str) -> dict[str, Any]:
    """Figures of one gateway process: the first start (keys made, ledger created) or a
    restart on the same state directory (keys loaded, the book restored)."""
    out = subprocess.run([sys.executable, "-m", "bench.day", "--part", part,
                          "--site", str(site_file)], capture_output=True, text=True,
                         check=True)
    figures: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("all", "demo", "devices", "serve", "gateway",
                                           "gateway-restart", "demo-day"),
                        default="all")
    parser.add_argument("--devices", type=int, default=DEVICES)
    parser.add_argument("--site", type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    if args.part == "serve":
        asyncio.run(serve_devices(args.site))
        return 0
    if args.part == "demo-day":
        print(json.dumps(demo_day()))
        return 0
    if args.part in ("gateway", "gateway-restart"):
        steady_s = 3 * POLL_INTERVAL_S if args.part == "gateway" else 0.0
        print(json.dumps(asyncio.run(gateway_to_ready(args.site, steady_s))))
        return 0
    if args.part in ("all", "demo"):
        out = subprocess.run([sys.executable, "-m", "bench.day", "--part", "demo-day"],
                             capture_output=True, text=True, check=True)
        demo = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"demo day (outage scenario, {DEMO_SPEED:g}x): {demo['wall_s']} s wall, peak "
              f"RSS {demo['peak_rss_mb']} MB, {demo['rounds']} rounds, "
              f"{demo['transactions']} transactions, ledger verified: "
              f"{demo['ledger_verified']}")
    if args.part in ("all", "devices"):
        f = devices_part(args.devices)
        print(f"{f['devices']} Modbus TCP devices: simulator up in {f['simulator_start_s']} s; "
              f"gateway started (every device polled once, ledger open) {f['started_s']} s, "
              f"READY {f['ready_s']} s after "
              f"start ({f['faults_at_ready']} devices faulted); RSS {f['rss_before_start_mb']} "
              f"MB before start, {f['rss_at_ready_mb']} MB at READY, {f['rss_polling_mb']} MB "
              f"polling, peak {f['peak_rss_mb']} MB; start parts (s) {f['start_s']}; "
              f"first round phases (s) {f['first_round_s']}")
        r = f["restart"]
        print(f"  restart on the same state: READY {r['ready_s']} s after start, peak RSS "
              f"{r['peak_rss_mb']} MB; start parts (s) {r['start_s']}; first round phases "
              f"(s) {r['first_round_s']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
