"""TeMIX products: power at a node, transport between nodes, and options on either.

A tender or transaction without a product trades power at the market context's own
resource. An option's premium is what the holder pays for the right; its strike is the
energy price of the transactions that exercising it creates (see :mod:`market.options`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from market.errors import IntervalError, TemixError
from market.interval import Interval
from market.quantities import check_price
from market.sides import Side

__all__ = [
    "OptionKind",
    "OptionProduct",
    "PowerProduct",
    "Product",
    "TransportProduct",
]


def _node(value: str, what: str) -> None:
    if not isinstance(value, str) or not value:
        raise TemixError(f"{what} must be a non-empty node name, got {value!r}")


@dataclass(frozen=True, slots=True)
class PowerProduct:
    """Energy delivered at one node of the grid."""

    node: str

    def __post_init__(self) -> None:
        _node(self.node, "power product node")

    @property
    def resource(self) -> str:
        return "POWER"


@dataclass(frozen=True, slots=True)
class TransportProduct:
    """The right to move energy from an injection node to a takeout node."""

    injection_node: str
    takeout_node: str

    def __post_init__(self) -> None:
        _node(self.injection_node, "transport injection node")
        _node(self.takeout_node, "transport takeout node")
        if self.injection_node == self.takeout_node:
            raise TemixError(
                f"transport from {self.injection_node!r} to itself moves nothing; "
                "use two different nodes"
            )

    @property
    def resource(self) -> str:
        return "TRANSPORT"


class OptionKind(enum.StrEnum):
    """A call gives its holder the right to buy; a put, the right to sell."""

    CALL = "CALL"
    PUT = "PUT"


@dataclass(frozen=True, slots=True)
class OptionProduct:
    """A call or put on a power or transport product.

    ``exercise_lead_time``: an exercise must be made at least this long before the
    exercised interval starts. ``granularity``: the shortest interval one exercise may
    cover. ``exercise_window``: when given, exercise notices are only valid inside it.
    """

    kind: OptionKind
    underlying: PowerProduct | TransportProduct
    strike_price: Decimal
    premium: Decimal
    exercise_lead_time: timedelta
    granularity: timedelta
    exercise_window: Interval | None = None

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "kind", OptionKind(self.kind))
        except ValueError as err:
            raise TemixError(f"option kind must be CALL or PUT, got {self.kind!r}") from err
        if not isinstance(self.underlying, PowerProduct | TransportProduct):
            raise TemixError(
                f"option underlying must be a power or transport product, got {self.underlying!r}"
            )
        object.__setattr__(self, "strike_price", check_price(self.strike_price, "strike price"))
        object.__setattr__(self, "premium", check_price(self.premium, "option premium"))
        lead = self.exercise_lead_time
        if not isinstance(lead, timedelta) or lead < timedelta(0):
            raise IntervalError(f"exercise lead time must be zero or more, got {lead!r}")
        if not isinstance(self.granularity, timedelta) or self.granularity <= timedelta(0):
            raise IntervalError(f"option granularity must be positive, got {self.granularity!r}")
        window = self.exercise_window
        if window is not None and not isinstance(window, Interval):
            raise IntervalError(f"exercise window must be an Interval, got {window!r}")

    @property
    def resource(self) -> str:
        return self.underlying.resource

    @property
    def holder_side(self) -> Side:
        """The side the holder takes when exercising: BUY for a call, SELL for a put."""
        return Side.BUY if self.kind is OptionKind.CALL else Side.SELL


Product = PowerProduct | TransportProduct | OptionProduct
"""Any TeMIX product."""
