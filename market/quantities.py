"""Energy and money from rates, prices and intervals — exact first, Decimal at the edge.

Exactness rule: a quantity is a constant rate (kW) over an interval, and ``Interval.hours``
is an exact ``Fraction``. ``energy_kwh_exact`` and ``extended_price_exact`` return exact
``Fraction`` values, so sums over sub-intervals equal the whole exactly (twelve 5-minute
energies are the hour's energy). ``energy_kwh`` and ``extended_price`` return a ``Decimal``
rounded once, half-even, to 28 significant digits (the default decimal context, set
locally so a caller's context cannot change the result). Every result that terminates
within 28 digits is therefore exact (whole hours, quarter hours, ordinary prices); a
non-terminating one such as 1 kW over 5 minutes equals ``Decimal(1) / Decimal(12)``.
Add up exact values, then round once (e.g. :func:`to_cents`), when a total must be exact.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Context, Decimal
from fractions import Fraction

from market.errors import PriceError, QuantityError
from market.interval import Interval

__all__ = [
    "DECIMAL_CONTEXT",
    "check_amount",
    "check_price",
    "check_quantity",
    "energy_kwh",
    "energy_kwh_exact",
    "extended_price",
    "extended_price_exact",
    "to_cents",
    "to_decimal",
]

DECIMAL_CONTEXT = Context(prec=28, rounding=ROUND_HALF_EVEN)
"""The context every Decimal result of this module is rounded in (28 digits, half-even)."""

_CENT = Decimal("0.01")


def to_decimal(value: Fraction) -> Decimal:
    """Round an exact Fraction once to a Decimal in :data:`DECIMAL_CONTEXT`."""
    return DECIMAL_CONTEXT.divide(Decimal(value.numerator), Decimal(value.denominator))


def to_cents(value: Fraction | Decimal, places: Decimal = _CENT) -> Decimal:
    """Round money (exact or Decimal) half-even to ``places`` (cents by default)."""
    exact = Fraction(value)
    scaled = exact / Fraction(places)
    return Decimal(round(scaled)) * places


def check_price(price: Decimal, what: str = "price") -> Decimal:
    """Return ``price`` when it is a finite Decimal (negative prices are allowed)."""
    if type(price) is Decimal and price.is_finite():
        return price
    if isinstance(price, bool) or not isinstance(price, Decimal | int):
        raise PriceError(f"{what} must be a Decimal, got {type(price).__name__} {price!r}")
    price = Decimal(price)
    if not price.is_finite():
        raise PriceError(f"{what} must be a finite number, got {price}")
    return price


def check_amount(value: Decimal, what: str) -> Decimal:
    """Return ``value`` when it is a finite Decimal of any sign (energies, net positions)."""
    if type(value) is Decimal and value.is_finite():
        return value
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise QuantityError(f"{what} must be a Decimal, got {type(value).__name__} {value!r}")
    value = Decimal(value)
    if not value.is_finite():
        raise QuantityError(f"{what} must be a finite number, got {value}")
    return value


def check_quantity(quantity: Decimal, what: str = "quantity") -> Decimal:
    """Return ``quantity`` when it is a finite Decimal rate greater than zero."""
    if type(quantity) is Decimal and quantity.is_finite() and quantity > 0:
        return quantity
    if isinstance(quantity, bool) or not isinstance(quantity, Decimal | int):
        raise QuantityError(
            f"{what} must be a Decimal rate in kW, got {type(quantity).__name__} {quantity!r}"
        )
    quantity = Decimal(quantity)
    if not quantity.is_finite() or quantity <= 0:
        raise QuantityError(f"{what} must be a rate greater than zero kW, got {quantity}")
    return quantity


def energy_kwh_exact(rate_kw: Decimal, interval: Interval) -> Fraction:
    """Exact energy (kWh) of a constant ``rate_kw`` over ``interval``."""
    return Fraction(rate_kw) * interval.hours


def energy_kwh(rate_kw: Decimal, interval: Interval) -> Decimal:
    """Energy (kWh) = rate × hours, as a Decimal rounded by the exactness rule."""
    return to_decimal(energy_kwh_exact(rate_kw, interval))


def extended_price_exact(price: Decimal, rate: Decimal, interval: Interval) -> Fraction:
    """Exact money = unit energy price × rate × hours."""
    return Fraction(price) * Fraction(rate) * interval.hours


def extended_price(price: Decimal, rate: Decimal, interval: Interval) -> Decimal:
    """Money = unit energy price × rate × hours, as a Decimal rounded by the exactness rule.

    At 0.080 per kWh, 1000 kW for two hours is 160; for one 15-minute interval, 20.
    """
    return to_decimal(extended_price_exact(price, rate, interval))
