"""TeMIX paper examples, intervals, durations, alignment, calendar days, quantities."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest

from market.temix import (
    Interval,
    IntervalError,
    MarketContext,
    energy_kwh,
    energy_kwh_exact,
    extended_price,
    extended_price_exact,
    format_duration,
    is_aligned,
    local_day,
    parse_duration,
    to_cents,
)

NEW_YORK = ZoneInfo("America/New_York")
T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
FIVE = timedelta(minutes=5)
QUARTER = timedelta(minutes=15)
HOUR = timedelta(hours=1)


# --- the TeMIX paper's numbers -------------------------------------------------------------


def test_one_megawatt_for_two_hours_at_80_per_mwh_costs_160() -> None:
    assert extended_price(Decimal("0.080"), Decimal(1000), Interval(T0, 2 * HOUR)) == 160


def test_one_megawatt_in_one_quarter_hour_at_80_per_mwh_costs_20() -> None:
    assert extended_price(Decimal("0.080"), Decimal(1000), Interval(T0, QUARTER)) == 20


def test_one_kilowatt_over_the_23_hour_spring_dst_day_is_23_kwh() -> None:
    day = local_day(date(2026, 3, 8), NEW_YORK)
    assert day.duration == timedelta(hours=23)
    assert energy_kwh(Decimal(1), day) == 23


def test_one_kilowatt_over_the_25_hour_autumn_dst_day_is_25_kwh() -> None:
    day = local_day(date(2026, 11, 1), NEW_YORK)
    assert day.hours == 25
    assert energy_kwh(Decimal(1), day) == 25


def test_one_kilowatt_over_an_ordinary_day_is_24_kwh() -> None:
    assert energy_kwh(Decimal(1), local_day(date(2026, 6, 1), NEW_YORK)) == 24


def test_one_kilowatt_over_five_minutes_is_one_twelfth_kwh() -> None:
    interval = Interval(T0, FIVE)
    assert interval.hours == Fraction(1, 12)
    assert energy_kwh_exact(Decimal(1), interval) == Fraction(1, 12)
    assert energy_kwh(Decimal(1), interval) == Decimal(1) / Decimal(12)


def test_twelve_five_minute_energies_sum_exactly_to_the_hour() -> None:
    hour = Interval(T0, HOUR)
    rate = Decimal("7.3")
    parts = [energy_kwh_exact(rate, piece) for piece in hour.split(FIVE)]
    assert sum(parts, Fraction(0)) == energy_kwh_exact(rate, hour) == Fraction(73, 10)


def test_decimal_results_ignore_the_callers_decimal_context() -> None:
    import decimal

    with decimal.localcontext(decimal.Context(prec=3)):
        assert energy_kwh(Decimal(1), Interval(T0, FIVE)) == Decimal(
            "0.08333333333333333333333333333"
        )


def test_to_cents_rounds_half_even_once() -> None:
    money = extended_price_exact(Decimal("0.1"), Decimal(1), Interval(T0, FIVE))
    assert to_cents(money) == Decimal("0.01")
    assert to_cents(Decimal("0.125")) == Decimal("0.12")
    assert to_cents(Decimal("0.135")) == Decimal("0.14")


# --- intervals ---------------------------------------------------------------------------


def test_naive_start_is_rejected_as_value_error() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        Interval(datetime(2026, 1, 1), HOUR)


@pytest.mark.parametrize("duration", [timedelta(0), -HOUR])
def test_non_positive_duration_is_rejected(duration: timedelta) -> None:
    with pytest.raises(IntervalError, match="positive"):
        Interval(T0, duration)


def test_end_is_elapsed_time_across_dst() -> None:
    start = datetime(2026, 3, 8, 0, 0, tzinfo=NEW_YORK)
    interval = Interval(start, timedelta(hours=3))
    assert interval.end == datetime(2026, 3, 8, 4, 0, tzinfo=NEW_YORK)
    assert interval.end.utcoffset() == timedelta(hours=-4)


def test_intervals_in_different_zones_for_the_same_instant_are_equal_and_hash_alike() -> None:
    a = Interval(datetime(2026, 6, 1, 8, 0, tzinfo=NEW_YORK), HOUR)
    b = Interval(datetime(2026, 6, 1, 12, 0, tzinfo=UTC), HOUR)
    assert a == b and hash(a) == hash(b)


def test_intervals_order_by_start_then_duration() -> None:
    items = [Interval(T0, HOUR), Interval(T0, FIVE), Interval(T0 - FIVE, HOUR)]
    assert sorted(items) == [Interval(T0 - FIVE, HOUR), Interval(T0, FIVE), Interval(T0, HOUR)]


def test_containment_nests() -> None:
    hour = Interval(T0, HOUR)
    assert hour.contains(hour)
    assert hour.contains(Interval(T0 + 55 * timedelta(minutes=1), FIVE))
    assert not hour.contains(Interval(T0 + 56 * timedelta(minutes=1), FIVE))
    assert not Interval(T0, FIVE).contains(hour)
    assert hour.contains_instant(T0) and not hour.contains_instant(T0 + HOUR)


def test_split_covers_exactly_and_rejects_uneven_pieces() -> None:
    hour = Interval(T0, HOUR)
    pieces = hour.split(QUARTER)
    assert [p.start for p in pieces] == [T0 + i * QUARTER for i in range(4)]
    assert sum((p.hours for p in pieces), Fraction(0)) == hour.hours
    with pytest.raises(IntervalError, match="not a whole multiple"):
        hour.split(timedelta(minutes=7))
    with pytest.raises(IntervalError, match="positive"):
        hour.split(timedelta(0))


def test_split_across_dst_keeps_elapsed_hours() -> None:
    day = local_day(date(2026, 11, 1), NEW_YORK)
    hours = day.split(HOUR)
    assert len(hours) == 25
    assert hours[1].start.hour == hours[2].start.hour == 1  # the repeated 01:00


def test_containing_in_the_repeated_autumn_hour() -> None:
    second_one_oclock = local_day(date(2026, 11, 1), NEW_YORK).split(HOUR)[2]
    five = second_one_oclock.split(FIVE)[2]
    assert five.start.utcoffset() == timedelta(hours=-5)
    assert five.containing(HOUR, NEW_YORK) == second_one_oclock
    assert five.containing(QUARTER, NEW_YORK) == second_one_oclock.split(QUARTER)[0]


def test_the_two_one_oclock_hours_of_a_fall_back_night_are_different_intervals() -> None:
    hours = local_day(date(2026, 11, 1), NEW_YORK).split(HOUR)
    first, second = hours[1], hours[2]
    assert first.start.replace(tzinfo=None) == second.start.replace(tzinfo=None)
    assert first != second and hash(first) != hash(second)
    assert first < second and second > first and first <= first and second >= second
    assert first.end == second.start and not first.overlaps(second)
    assert not first.contains(second.split(FIVE)[0])
    assert second.contains_instant(second.start) and not first.contains_instant(second.start)
    assert sorted(hours) == hours


def test_a_wall_clock_block_does_not_tile_elapsed_time_across_fall_back() -> None:
    second_one_oclock = local_day(date(2026, 11, 1), NEW_YORK).split(HOUR)[2]
    with pytest.raises(IntervalError, match="no aligned PT2H interval contains"):
        second_one_oclock.containing(2 * HOUR, NEW_YORK)


def test_interval_start_must_be_a_datetime() -> None:
    with pytest.raises(IntervalError, match="must be a datetime"):
        Interval("2026-01-01T00:00:00Z", HOUR)  # type: ignore[arg-type]


def test_interval_equality_with_other_types_is_false() -> None:
    assert Interval(T0, HOUR) != (T0, HOUR)


def test_containing_finds_the_aligned_parent() -> None:
    five = Interval(T0 + 20 * timedelta(minutes=1), FIVE)
    assert five.containing(QUARTER) == Interval(T0 + QUARTER, QUARTER)
    assert five.containing(HOUR, NEW_YORK) == Interval(T0, HOUR)
    with pytest.raises(IntervalError, match="does not divide a day"):
        five.containing(timedelta(minutes=7))


@pytest.mark.parametrize(
    ("text", "duration"),
    [
        ("PT5M", FIVE),
        ("PT15M", QUARTER),
        ("PT1H", HOUR),
        ("P1D", timedelta(days=1)),
        ("P1DT2H30M", timedelta(days=1, hours=2, minutes=30)),
        ("PT23H", timedelta(hours=23)),
        ("PT0.25S", timedelta(milliseconds=250)),
        ("P1W", timedelta(days=7)),
    ],
)
def test_iso_durations_round_trip(text: str, duration: timedelta) -> None:
    assert parse_duration(text) == duration
    assert parse_duration(format_duration(duration)) == duration


def test_format_duration_uses_canonical_text() -> None:
    assert format_duration(FIVE) == "PT5M"
    assert format_duration(HOUR) == "PT1H"
    assert format_duration(timedelta(days=1)) == "P1D"
    assert format_duration(timedelta(days=7)) == "P7D"


@pytest.mark.parametrize("text", ["P1M", "P1Y", "5M", "PT", "P", "P1DT", "PT-5M", "", "PT5X"])
def test_bad_iso_durations_are_rejected(text: str) -> None:
    with pytest.raises(IntervalError, match=r"ISO 8601|longer than zero"):
        parse_duration(text)


def test_duration_must_be_text() -> None:
    with pytest.raises(IntervalError, match="ISO 8601 text"):
        parse_duration(300)  # type: ignore[arg-type]


def test_zero_duration_text_is_rejected() -> None:
    with pytest.raises(IntervalError, match="longer than zero"):
        parse_duration("PT0S")


def test_format_duration_rejects_non_positive() -> None:
    with pytest.raises(IntervalError):
        format_duration(timedelta(0))


# --- alignment ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minute", "duration", "aligned"),
    [
        (0, FIVE, True),
        (5, FIVE, True),
        (7, FIVE, False),
        (15, QUARTER, True),
        (5, QUARTER, False),
        (0, HOUR, True),
        (15, HOUR, False),
    ],
)
def test_alignment_on_the_clock(minute: int, duration: timedelta, aligned: bool) -> None:
    interval = Interval(T0 + minute * timedelta(minutes=1), duration)
    assert is_aligned(interval) is aligned


def test_alignment_uses_the_market_zone_clock() -> None:
    kolkata = ZoneInfo("Asia/Kolkata")  # UTC+05:30
    start = datetime(2026, 6, 1, 6, 0, tzinfo=kolkata)
    assert is_aligned(Interval(start, HOUR), kolkata)
    assert not is_aligned(Interval(start, HOUR), UTC)


def test_days_align_at_local_midnight_and_dst_days_are_aligned() -> None:
    assert is_aligned(local_day(date(2026, 3, 8), NEW_YORK), NEW_YORK)
    assert is_aligned(local_day(date(2026, 11, 1), "America/New_York"), "America/New_York")
    midnight = datetime(2026, 6, 1, tzinfo=NEW_YORK)
    assert is_aligned(Interval(midnight, timedelta(days=2)), NEW_YORK)
    assert not is_aligned(Interval(midnight + HOUR, timedelta(days=1)), NEW_YORK)
    assert not is_aligned(Interval(midnight, timedelta(hours=23)), NEW_YORK)


def test_market_context_accepts_listed_aligned_intervals_and_local_days() -> None:
    context = MarketContext(
        "urn:temix:demo",
        zone="America/New_York",
        interval_durations=(FIVE, QUARTER, HOUR, timedelta(days=1)),
    )
    assert context.price_unit == "USD/kWh"
    context.check_interval(Interval(T0, FIVE))
    context.check_interval(local_day(date(2026, 3, 8), NEW_YORK))


def test_market_context_rejects_unlisted_durations_and_misaligned_starts() -> None:
    context = MarketContext("urn:temix:demo")
    with pytest.raises(IntervalError, match="trades intervals of PT5M, PT15M, PT1H"):
        context.check_interval(Interval(T0, timedelta(minutes=30)))
    with pytest.raises(IntervalError, match="not aligned"):
        context.check_interval(Interval(T0 + FIVE, QUARTER))


def test_fixed_offset_start_is_fine() -> None:
    tz = timezone(timedelta(hours=-5))
    interval = Interval(datetime(2026, 1, 1, 7, 0, tzinfo=tz), HOUR)
    assert interval.end == datetime(2026, 1, 1, 8, 0, tzinfo=tz)
    assert str(interval) == "2026-01-01T07:00:00-05:00/PT1H"
