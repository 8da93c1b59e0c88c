"""Tender ids carry ``now`` as written: a round at the same instant in another zone (or
the other side of a fall-back hour) gets its own ids, whatever was asked for before."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from market.agents import CriticalLoad, CriticalLoadPreferences
from market.agents.base import tender_prefix
from market.temix import Interval

STOCKHOLM = ZoneInfo("Europe/Stockholm")


def _ids(now: datetime, intervals: list[Interval]) -> list[str]:
    load = CriticalLoad("fridge", CriticalLoadPreferences(Decimal(2)))
    return [t.tender_id for t in load.tenders(now, intervals, None, {}, {})]


def test_the_same_instant_in_two_zones_gives_each_zones_ids() -> None:
    utc_now = datetime(2026, 11, 27, 2, tzinfo=UTC)
    local_now = utc_now.astimezone(STOCKHOLM)
    horizon = [Interval(utc_now + timedelta(hours=h), timedelta(hours=1)) for h in range(3)]
    first = _ids(utc_now, horizon)
    second = _ids(local_now, horizon)
    assert first == [f"{tender_prefix('fridge', utc_now, iv)}:0" for iv in horizon]
    assert second == [f"{tender_prefix('fridge', local_now, iv)}:0" for iv in horizon]
    assert all("@2026-11-27T03:00:00+01:00/" in tender_id for tender_id in second)


def test_the_two_halves_of_a_fall_back_hour_get_their_own_ids() -> None:
    summer = datetime(2026, 10, 25, 2, 30, tzinfo=STOCKHOLM)  # +02:00
    winter = summer.replace(fold=1)  # the same wall time an hour later, +01:00
    horizon = [Interval(datetime(2026, 10, 25, 3, tzinfo=UTC), timedelta(hours=1))]
    assert "+02:00/" in _ids(summer, horizon)[0]
    assert "+01:00/" in _ids(winter, horizon)[0]
