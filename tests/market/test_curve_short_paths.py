"""The short paths for flat and one-step curves make exactly the tenders of the general
path: same sides, prices and quantities down to the Decimal exponent (the clearing and
the ledger see the digits), for positions below, inside, above and on a step's edges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from market.agents.base import PositionCurve, PriceBand, _curve_terms, _steps_terms
from market.temix import Interval

D = Decimal
HOUR = Interval(datetime(2026, 6, 1, 12, tzinfo=UTC), timedelta(hours=1))
BAND = PriceBand(D("-1.5"), D("10.00"))

# Equal values with different exponents are where a shortcut would show: 5 and 5.0 and
# 5E+0 compare equal but print differently.
_KW = st.sampled_from(
    [D(s) for s in ("0", "-0", "0E-6", "0E+2", "5", "5.0", "5E+0", "-5", "-5.000", "12.5")]
    + [D("1E+30"), D("-1E+30")]
) | st.decimals(min_value=-100, max_value=100, allow_nan=False, allow_infinity=False, places=3)
_STEP_KW = st.sampled_from([D(s) for s in ("5", "5.0", "7.5", "1E-10", "2E+1")]) | st.decimals(
    min_value=D("0.001"), max_value=100, places=3
)
_PRICE = st.sampled_from([D(s) for s in ("0", "0.30", "3E-1", "-0.05")]) | st.decimals(
    min_value=-1, max_value=10, places=6
)


def _shown(terms: tuple[tuple[object, Decimal, Decimal], ...]) -> list[tuple[str, str, str]]:
    return [(str(side), repr(price), repr(quantity)) for side, price, quantity in terms]


@given(base=_KW, current=_KW)
def test_a_flat_curve_makes_the_general_paths_tenders(base: Decimal, current: Decimal) -> None:
    curve = PositionCurve(base)
    fast = _curve_terms("load", HOUR, curve, current, BAND)
    assert _shown(fast) == _shown(_steps_terms("load", HOUR, curve, current, BAND))


@given(base=_KW, current=_KW, step_price=_PRICE, delta=_STEP_KW)
def test_a_one_step_curve_makes_the_general_paths_tenders(
    base: Decimal, current: Decimal, step_price: Decimal, delta: Decimal
) -> None:
    curve = PositionCurve(base, ((step_price, delta),))
    fast = _curve_terms("pv", HOUR, curve, current, BAND)
    assert _shown(fast) == _shown(_steps_terms("pv", HOUR, curve, current, BAND))


@given(step_price=_PRICE, delta=_STEP_KW)
def test_positions_on_a_steps_edges_match_too(step_price: Decimal, delta: Decimal) -> None:
    base = D("-5.0")
    curve = PositionCurve(base, ((step_price, delta),))
    for current in (base, D("-5"), base + delta, (base + delta).normalize()):
        fast = _curve_terms("ev", HOUR, curve, current, BAND)
        assert _shown(fast) == _shown(_steps_terms("ev", HOUR, curve, current, BAND))
