"""What the natures say of a kind of device — the sign of its power and how to shed it —
holds for the profiles the demo site uses for that kind."""

from __future__ import annotations

from pathlib import Path

from drivers.natures import NATURES
from drivers.profile import Access
from gateway.config.loader import load_site


def test_shed_writes_name_writable_points_within_range(repo_root: Path) -> None:
    site = load_site(repo_root / "config" / "examples" / "demo-site.yaml")
    sheddable = 0
    for device in site.config.devices:
        writes = NATURES[device.nature].shed_writes
        points = {p.name: p for p in site.profiles[device.id].points}
        for name, value in writes.items():
            point = points.get(name)
            assert point is not None, f"{device.id}: shed writes {name}, not in its profile"
            assert point.access is not Access.READ, f"{device.id}: {name} is read-only"
            if not isinstance(value, bool):
                assert point.minimum is None or value >= point.minimum, (device.id, name)
                assert point.maximum is None or value <= point.maximum, (device.id, name)
        sheddable += bool(writes)
    assert sheddable >= 3, "the demo site has HVAC zones, lighting and EV chargers to shed"


def test_producers_draw_with_the_opposite_sign_of_their_power_point() -> None:
    producers = {name for name, nature in NATURES.items() if nature.draw_sign < 0}
    assert producers == {"storage", "pv", "generator"}
    assert all(NATURES[name].draw_sign == 1.0 for name in ("meter", "load", "hvac_zone"))
