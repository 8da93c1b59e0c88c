"""The systemd unit verifies, and the notifier speaks the sd_notify datagram protocol."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path

from gateway.systemd import SystemdNotifier


def test_unit_file_verifies(repo_root: Path, tmp_path: Path) -> None:
    systemd_analyze = shutil.which("systemd-analyze")
    assert systemd_analyze, ".ci/run installs systemd; systemd-analyze must be present"
    unit = (repo_root / "systemd" / "temix-gateway.service").read_text()
    executable = Path(sys.executable).parent / "temix-gateway"
    assert executable.exists()
    unit = unit.replace("/opt/temix-gateway/bin/temix-gateway", str(executable))
    copy = tmp_path / "temix-gateway.service"
    copy.write_text(unit)
    result = subprocess.run([systemd_analyze, "verify", str(copy)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Type=notify" in unit and "WatchdogSec=" in unit and "Restart=on-failure" in unit


def test_notifier_sends_datagrams(tmp_path: Path) -> None:
    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(path)
        server.settimeout(5)
        notifier = SystemdNotifier(path)
        notifier.ready("polling 12 devices")
        assert server.recv(1024) == b"READY=1\nSTATUS=polling 12 devices"
        notifier.watchdog()
        assert server.recv(1024) == b"WATCHDOG=1"


def test_notifier_is_silent_outside_systemd(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    notifier = SystemdNotifier()
    assert not notifier.enabled
    notifier.ready("x")
