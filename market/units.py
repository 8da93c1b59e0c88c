"""Decimal prices and rates ↔ the integer micro-units the auction clears in.

Prices clear in micro-currency per kWh and rates in micro-kW, both held in 64-bit
columns (:mod:`market.book`). Conversion is exact for any ``Decimal`` and rounds one way:
a buy price down and a sell price up, a quantity down, so no buy is ever filled above its
price nor a sell below it. Prices beyond ``±PRICE_LIMIT`` (10⁹ per kWh, far outside any
price band a site may set) are held at the limit: they are outside the band either way.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal
from functools import lru_cache
from math import ceil, floor

__all__ = [
    "PRICE_LIMIT",
    "PRICE_SCALE",
    "QUANTITY_LIMIT_KW",
    "QUANTITY_SCALE",
    "buy_price_units",
    "price_units",
    "quantity_units",
    "rate_units",
    "sell_price_units",
    "units_to_kw",
    "units_to_price",
]

PRICE_SCALE = 1_000_000
"""Prices clear in integer micro-units of currency per kWh."""
QUANTITY_SCALE = 1_000_000
"""Quantities clear in integer micro-kW."""
PRICE_LIMIT = Decimal(10**9)
"""Largest price magnitude per kWh the auction tells apart; a price band must lie inside."""
QUANTITY_LIMIT_KW = Decimal(10**6)
"""Largest rate one tender or PCC limit may carry (1 GW): a million such orders per side
still add up within 64 bits."""

_PS = Decimal("1E+6")
_QS = Decimal("1E+6")
"""The scales as a bare power of ten: multiplying by one only moves the exponent."""
_EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)
"""Conversion happens in this context, so it is exact for any Decimal (the caller's
context — 28 digits by default — could round a long price up before ``floor``)."""
_PRICE_BOUND = int(PRICE_LIMIT) * PRICE_SCALE


def price_units(price: Decimal, *, round_up: bool = False) -> int:
    """A price in integer micro-units per kWh (down for buys, up for sells)."""
    scaled = _EXACT.multiply(price, _PS)
    return ceil(scaled) if round_up else floor(scaled)


def quantity_units(quantity_kw: Decimal) -> int:
    """A rate in integer micro-kW, rounded down."""
    return floor(_EXACT.multiply(quantity_kw, _QS))


def units_to_price(units: int) -> Decimal:
    """Integer micro-units per kWh back to a Decimal price."""
    return Decimal(units).scaleb(-6)


@lru_cache(maxsize=1 << 14)
def units_to_kw(units: int) -> Decimal:
    """Integer micro-kW back to a Decimal rate (remembered: fills repeat the same few
    quantities by the thousand)."""
    return Decimal(units).scaleb(-6)


def _bounded_price(rounding: Callable[[Decimal], int]) -> Callable[[Decimal], int]:
    def convert(scaled: Decimal) -> int:
        return max(-_PRICE_BOUND, min(_PRICE_BOUND, rounding(scaled)))

    return convert


class _Units:
    """Decimal → integer micro-units (× 10⁶), rounded one way, remembered.

    A round converts the same few prices (cap, floor, thresholds) and rated quantities
    thousands of times; a dictionary lookup costs a quarter of the exact multiplication,
    and when every value is known the whole list is looked up in C (``map``). The memory
    is dropped when it grows past ``limit`` values.
    """

    def __init__(
        self, scale: Decimal, rounding: Callable[[Decimal], int], limit: int = 1 << 16
    ) -> None:
        self._scale = scale
        self._rounding = rounding
        self._limit = limit
        self._memo: dict[Decimal, int] = {}

    def __call__(self, values: list[Decimal]) -> list[int]:
        memo = self._memo
        try:
            return list(map(memo.__getitem__, values))
        except KeyError:
            pass
        if len(memo) > self._limit:
            memo.clear()
        rounding, multiply, scale = self._rounding, _EXACT.multiply, self._scale
        for value in set(values).difference(memo):
            memo[value] = rounding(multiply(value, scale))
        return list(map(memo.__getitem__, values))


buy_price_units = _Units(_PS, _bounded_price(floor))
"""Buy prices in micro-units, rounded down, held within ``±PRICE_LIMIT``."""
sell_price_units = _Units(_PS, _bounded_price(ceil))
"""Sell prices in micro-units, rounded up, held within ``±PRICE_LIMIT``."""
rate_units = _Units(_QS, floor)
"""Rates in micro-kW, rounded down."""
