"""The site file and profiles: every bad case a facility manager may write gets a message
naming the file, the line and the key (issue 2, item 6)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.cli import main
from gateway.config import ConfigError, load_site

VALID = """\
site:
  name: Test building
  timezone: Europe/Berlin
  nominal_voltage_v: 230
  nominal_frequency_hz: 50
  pcc_import_limit_kw: 100
  pcc_export_limit_kw: 40
  pcc_rating_kva: 150
devices:
  - id: pcc_meter
    nature: meter
    profile: sunspec-meter-213
    connection: {kind: modbus_tcp, host: 127.0.0.1, port: 15020, unit: 1}
  - id: breaker
    nature: breaker
    profile: gpio-pcc-breaker
    connection: {kind: gpio, pins: {trip: 17, close: 27, status_52a: 22, status_52b: 23,
                                    backup_trip: 24}}
  - id: ev
    nature: ev_charger
    profile: modbus-ev-charger
    connection: {kind: modbus_rtu, port: /dev/ttyUSB0, baud: 19200, unit: 7}
    agent: {personality: ev, max_power_kw: 22}
market:
  market_id: urn:temix:test
  horizon:
    - {interval: 5min, until: 2h}
    - {interval: 15min, until: 6h}
  price_floor_per_kwh: -0.5
  price_cap_per_kwh: 5
"""


def write(tmp_path: Path, text: str, name: str = "site.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def line_of(text: str, fragment: str) -> int:
    for number, line in enumerate(text.splitlines(), start=1):
        if fragment in line:
            return number
    raise AssertionError(f"{fragment!r} not in text")


def problems_for(tmp_path: Path, text: str) -> list[str]:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_site(path)
    return [str(p) for p in caught.value.problems]


def assert_problem(tmp_path: Path, text: str, line: int, key: str, *words: str) -> str:
    problems = problems_for(tmp_path, text)
    path = tmp_path / "site.yaml"
    matching = [p for p in problems if p.startswith(f"{path}:{line}:") and key in p]
    assert matching, f"no problem at line {line} naming {key!r} in {problems}"
    for word in words:
        assert word in matching[0], f"{word!r} not in {matching[0]!r}"
    return matching[0]


def test_valid_site_loads(tmp_path: Path) -> None:
    site = load_site(write(tmp_path, VALID))
    assert [d.id for d in site.config.devices] == ["pcc_meter", "breaker", "ev"]
    assert site.profiles["pcc_meter"].name == "sunspec-meter-213"
    resolved = site.config.islanding.resolved()
    assert resolved.nominal_frequency_hz == 50.0


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    text = VALID.replace("  name: Test building", "  name: [Test building")
    problems = problems_for(tmp_path, text)
    assert len(problems) == 1
    assert "YAML syntax error" in problems[0]
    assert f"{tmp_path / 'site.yaml'}:" in problems[0]


def test_unknown_key_suggests_closest(tmp_path: Path) -> None:
    text = VALID.replace("  timezone: Europe/Berlin", "  timezone: Europe/Berlin\n  timzone: x")
    assert_problem(tmp_path, text, line_of(text, "timzone"), "site.timzone",
                   "unknown key 'timzone'", "did you mean 'timezone'")


def test_unknown_key_inside_connection_suggests(tmp_path: Path) -> None:
    text = VALID.replace("port: 15020, unit: 1}", "port: 15020, unti: 1}")
    assert_problem(tmp_path, text, line_of(text, "unti"), "devices[0].connection.unti",
                   "did you mean 'unit'")


def test_missing_required_key(tmp_path: Path) -> None:
    text = VALID.replace("  pcc_rating_kva: 150\n", "")
    assert_problem(tmp_path, text, line_of(text, "site:"), "site.pcc_rating_kva",
                   "required key is missing")


def test_wrong_type(tmp_path: Path) -> None:
    text = VALID.replace("nominal_voltage_v: 230", "nominal_voltage_v: high")
    assert_problem(tmp_path, text, line_of(text, "nominal_voltage_v"),
                   "site.nominal_voltage_v", "'high'")


def test_out_of_range_value(tmp_path: Path) -> None:
    text = VALID.replace("port: 15020", "port: 70000")
    assert_problem(tmp_path, text, line_of(text, "70000"), "devices[0].connection.port",
                   "70000", "less than or equal to 65535")


def test_duplicate_device_id(tmp_path: Path) -> None:
    text = VALID.replace("- id: ev", "- id: breaker")
    assert_problem(tmp_path, text, line_of(text, "port: /dev/ttyUSB0") - 3, "devices[2].id",
                   "duplicate device id 'breaker'")


def test_two_devices_on_same_bus_address(tmp_path: Path) -> None:
    text = VALID.replace(
        "market:",
        "  - id: sub\n    nature: load\n    profile: sunspec-meter-203\n"
        "    connection: {kind: modbus_tcp, host: 127.0.0.1, port: 15020, unit: 1}\nmarket:",
    )
    problem = assert_problem(tmp_path, text, line_of(text, "- id: sub") + 3,
                             "devices[3].connection", "same bus address")
    assert "'pcc_meter'" in problem


def test_unknown_profile(tmp_path: Path) -> None:
    text = VALID.replace("profile: sunspec-meter-213", "profile: acme-meter-9000")
    assert_problem(tmp_path, text, line_of(text, "acme-meter-9000"), "devices[0].profile",
                   "unknown profile 'acme-meter-9000'")


def test_profile_with_bad_data_type(tmp_path: Path) -> None:
    profile = write(tmp_path, (
        "name: bad-meter\ndescription: broken\nprotocol: modbus\nnature: meter\npoints:\n"
        "  - {name: power_kw, address: 100, type: float33}\n"
    ), "bad-meter.yaml")
    text = VALID.replace("profile: sunspec-meter-213", f"profile: {profile}")
    problems = problems_for(tmp_path, text)
    assert any(p.startswith(f"{profile}:6:") and "points[0].type" in p and "float33" in p
               for p in problems), problems
    assert any("devices[0].profile" in p and "is invalid" in p for p in problems)


def test_connection_kind_must_match_profile_protocol(tmp_path: Path) -> None:
    text = VALID.replace("profile: gpio-pcc-breaker", "profile: sunspec-meter-213")
    assert_problem(tmp_path, text, line_of(text, "kind: gpio"), "devices[1].connection.kind",
                   "'gpio'", "modbus profile")


def test_unknown_timezone(tmp_path: Path) -> None:
    text = VALID.replace("Europe/Berlin", "Mars/Olympus_Mons")
    assert_problem(tmp_path, text, line_of(text, "timezone"), "site.timezone",
                   "unknown time zone 'Mars/Olympus_Mons'")


def test_interval_durations_must_nest(tmp_path: Path) -> None:
    text = VALID.replace("{interval: 15min, until: 6h}", "{interval: 7min, until: 7h}")
    assert_problem(tmp_path, text, line_of(text, "7min"), "market.horizon[1].interval",
                   "does not nest")


def test_price_cap_below_floor(tmp_path: Path) -> None:
    text = VALID.replace("price_cap_per_kwh: 5", "price_cap_per_kwh: -1")
    assert_problem(tmp_path, text, line_of(text, "price_cap_per_kwh"),
                   "market.price_cap_per_kwh", "must be above the price floor")


def test_empty_devices_list(tmp_path: Path) -> None:
    start = VALID.index("devices:")
    end = VALID.index("market:")
    text = VALID[:start] + "devices: []\n" + VALID[end:]
    assert_problem(tmp_path, text, line_of(text, "devices: []"), "devices", "empty")


def test_all_problems_reported_at_once(tmp_path: Path) -> None:
    schema_errors = (VALID.replace("Europe/Berlin", "Nowhere/Land")
                     .replace("nominal_voltage_v: 230", "nominal_voltage_v: high")
                     .replace("port: 15020, unit: 1}", "port: 15020, unti: 1}"))
    assert len(problems_for(tmp_path, schema_errors)) == 3
    cross_checks = (VALID.replace("price_cap_per_kwh: 5", "price_cap_per_kwh: -1")
                    .replace("profile: sunspec-meter-213", "profile: nope")
                    .replace("- id: ev", "- id: breaker"))
    assert len(problems_for(tmp_path, cross_checks)) == 3


def test_islanding_setting_out_of_range_refused(tmp_path: Path) -> None:
    text = VALID + "islanding:\n  enter_service_delay_s: 900\n"
    problems = problems_for(tmp_path, text)
    assert any(f":{line_of(text, 'enter_service_delay_s')}:" in p and "900" in p
               for p in problems), problems


def test_shed_order_must_name_known_non_critical_devices(tmp_path: Path) -> None:
    text = VALID + "islanding:\n  load_shed_order: [ev, ghost]\n"
    assert_problem(tmp_path, text, line_of(text, "load_shed_order"),
                   "islanding.load_shed_order[1]", "unknown device 'ghost'")


def test_check_config_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path, VALID, "good.yaml")
    assert main(["check-config", str(good)]) == 0
    assert "OK" in capsys.readouterr().out
    bad = write(tmp_path, VALID.replace("Europe/Berlin", "Nowhere/Land"), "bad.yaml")
    assert main(["check-config", str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:3:" in err and "site.timezone" in err


def test_every_shipped_profile_is_valid(repo_root: Path) -> None:
    from drivers.profile import load_profile

    profiles = sorted((repo_root / "config" / "profiles").glob("*.yaml"))
    assert len(profiles) >= 8
    for path in profiles:
        assert load_profile(path).name == path.stem


def test_pcc_limits_and_price_band_beyond_what_the_market_can_clear(tmp_path: Path) -> None:
    """The auction adds in 64 bits: 1 GW at the PCC and ±10⁹ per kWh are the bounds."""
    text = VALID.replace("pcc_import_limit_kw: 100", "pcc_import_limit_kw: 2000000") \
                .replace("price_cap_per_kwh: 5", "price_cap_per_kwh: 1e12")
    assert_problem(tmp_path, text, line_of(text, "pcc_import_limit_kw"),
                   "site.pcc_import_limit_kw", "less than or equal to 1000000")
    assert_problem(tmp_path, text, line_of(text, "price_cap_per_kwh"),
                   "market.price_cap_per_kwh", "less than 1000000000")
