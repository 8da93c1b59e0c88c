"""The ``tariff`` section: a site without a TeMIX counterparty buys at its utility's
tariff. Each mistake a facility manager can make is refused with the file, the line and
what to change."""

from __future__ import annotations

from pathlib import Path

import pytest
from sitekit import TARIFF
from test_site_file import VALID, assert_problem, line_of, write

from gateway.cli import main
from gateway.config import load_site

EXTERNAL = """\
external_market:
  counterparty_url: http://127.0.0.1:18080/cts/v1
  party_id: us
  counterparty_id: them
"""


def test_a_time_of_use_tariff_loads(tmp_path: Path) -> None:
    tariff = load_site(write(tmp_path, VALID + TARIFF)).config.tariff
    assert tariff is not None
    assert tariff.utility_id == "city-power"
    assert [(w.start, w.end) for w in tariff.time_of_use] == [("16:00", "21:00"),
                                                              ("23:00", "06:00")]


def test_a_flat_tariff_needs_only_the_import_price(tmp_path: Path) -> None:
    tariff = load_site(write(tmp_path, VALID + "tariff: {import_per_kwh: 0.3}\n")).config.tariff
    assert tariff is not None
    assert (tariff.utility_id, str(tariff.export_per_kwh), tariff.time_of_use) == \
        ("utility", "0", [])


def test_tariff_and_external_market_together_are_refused(tmp_path: Path) -> None:
    text = VALID + EXTERNAL + TARIFF
    assert_problem(tmp_path, text, line_of(text, "tariff:"), "tariff",
                   "not both", "remove one")


@pytest.mark.parametrize(("change", "at", "words"), [
    (('end: "21:00"', 'end: "23:30"'), "tariff:",
     ("window 1 (23:00-06:00) overlaps window 0 (16:00-23:30) at 23:00",)),
    (("export_per_kwh: 0.05", "export_per_kwh: 0.30"), "tariff:",
     ("base prices: the export price 0.3 is above the import price 0.22",)),
    (('start: "16:00"', 'start: "4pm"'), "4pm", ("'4pm' is not a clock time", "HH:MM")),
    (('end: "21:00"', 'end: "16:00"'), '"16:00"', ("empty",)),
    (("import_per_kwh: 0.48}", "}"), '"16:00"', ("sets import_per_kwh, export_per_kwh or both",)),
])
def test_bad_windows_and_prices_name_their_line(
        tmp_path: Path, change: tuple[str, str], at: str, words: tuple[str, ...]) -> None:
    text = VALID + TARIFF.replace(*change)
    assert_problem(tmp_path, text, line_of(text, at), "tariff", *words)


def test_an_import_price_above_the_cap_is_refused(tmp_path: Path) -> None:
    text = VALID + TARIFF.replace("import_per_kwh: 0.48", "import_per_kwh: 6")
    assert_problem(tmp_path, text, line_of(text, "tariff:"), "tariff",
                   "window 0 (16:00-21:00): import price 6 is above market.price_cap_per_kwh 5")


def test_an_export_price_below_the_floor_is_refused(tmp_path: Path) -> None:
    text = VALID + TARIFF.replace("export_per_kwh: 0.02", "export_per_kwh: -0.6")
    assert_problem(tmp_path, text, line_of(text, "tariff:"), "tariff",
                   "export price -0.6 is below market.price_floor_per_kwh -0.5")


def test_check_config_says_whom_the_building_buys_from(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(write(tmp_path, VALID + TARIFF, "tariff.yaml"))]) == 0
    assert "buys at the tariff of city-power (import 0.22/kWh, 2 time-of-use windows)" in \
        capsys.readouterr().out
    assert main(["check-config", str(write(tmp_path, VALID, "none.yaml"))]) == 0
    assert "no external_market or tariff: no grid supply in the market" in \
        capsys.readouterr().out
