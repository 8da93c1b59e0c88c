"""One delivery interval's tenders, checked and converted as they arrive, held as columns.

A market gate collects tenders over a period and clears when it closes. An
:class:`IntervalBook` does the per-tender work as tenders arrive — the checks that refuse a
tender which cannot enter the auction, the conversion to integer micro-units
(:mod:`market.units`) — and keeps each side as 64-bit columns, so that clearing at the gate
is only the auction (:func:`market.clearing.clear` accepts a book in place of tenders).
A batch is checked whole before any of it is added: a refused batch leaves the book as it
was, and the error names the tender.
"""

from __future__ import annotations

from array import array
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime

from market.products import OptionProduct
from market.temix import (
    CounterpartyError,
    Interval,
    IntervalError,
    QuantityError,
    Side,
    TemixError,
    Tender,
)
from market.units import (
    QUANTITY_LIMIT_KW,
    QUANTITY_SCALE,
    buy_price_units,
    rate_units,
    sell_price_units,
)

__all__ = ["DEFAULT_OPERATOR", "IntervalBook"]

DEFAULT_OPERATOR = "market-operator"

_QUANTITY_BOUND = int(QUANTITY_LIMIT_KW) * QUANTITY_SCALE


def _refuse(t: Tender, interval: Interval, operator: str) -> None:
    """Raise the error a tender that cannot enter this interval's auction deserves."""
    if t.interval != interval:
        raise IntervalError(
            f"tender {t.tender_id} of {t.party} is for {t.interval}, not the interval "
            f"being cleared {interval}"
        )
    if t.party == operator or (t.counterparty is not None and t.counterparty != operator):
        raise CounterpartyError(
            f"tender {t.tender_id} of {t.party} is not addressed to market operator {operator!r}"
        )
    if isinstance(t.product, OptionProduct):
        raise TemixError(
            f"tender {t.tender_id} of {t.party} is an option; options trade through "
            "market.options_market, not the energy auction"
        )


def _split(
    tenders: list[Tender], interval: Interval, operator: str
) -> tuple[list[Tender], list[Tender], int]:
    """Split into buys and sells and count the tenders that expire; refuse misfits. One
    cheap pass finds the few tenders worth a closer look (hot path)."""
    odd = [
        t
        for t in tenders
        if t.interval is not interval
        or t.counterparty is not None
        or t.product is not None
        or t.expires is not None
        or t.party == operator
    ]
    for t in odd:
        _refuse(t, interval, operator)
    buy = Side.BUY
    buys = [t for t in tenders if t.side is buy]
    sells = [t for t in tenders if t.side is not buy]
    return buys, sells, sum(t.expires is not None for t in odd)


def _rates(tenders: list[Tender]) -> list[int]:
    units = rate_units([t.quantity for t in tenders])
    if units and max(units) > _QUANTITY_BOUND:
        t = tenders[units.index(max(units))]
        raise QuantityError(
            f"tender {t.tender_id} of {t.party} is for {t.quantity} kW, above the "
            f"{QUANTITY_LIMIT_KW} kW one tender may carry"
        )
    return units


class IntervalBook:
    """The tenders to ``operator`` for ``interval``: per side, the tenders in arrival order
    and, in the same order, their prices (micro-units per kWh; buys rounded down, sells up)
    and quantities (micro-kW, rounded down) as 64-bit columns."""

    __slots__ = (
        "_buy_prices",
        "_buy_quantities",
        "_buys",
        "_sell_prices",
        "_sell_quantities",
        "_sells",
        "expiring",
        "interval",
        "operator",
    )

    def __init__(
        self, interval: Interval, operator: str = DEFAULT_OPERATOR, tenders: Iterable[Tender] = ()
    ) -> None:
        self.interval = interval
        self.operator = operator
        self._buys: list[Tender] = []
        self._sells: list[Tender] = []
        self.expiring = 0
        """How many tenders carry an expiry (clearing filters only books that have any)."""
        self._buy_prices = array("q")
        self._buy_quantities = array("q")
        self._sell_prices = array("q")
        self._sell_quantities = array("q")
        self.extend(tenders)

    def __len__(self) -> int:
        return len(self._buys) + len(self._sells)

    @property
    def buys(self) -> Sequence[Tender]:
        """The buys in arrival order (index i is row i of the buy columns)."""
        return self._buys

    @property
    def sells(self) -> Sequence[Tender]:
        """The sells in arrival order (index i is row i of the sell columns)."""
        return self._sells

    def add(self, tender: Tender) -> None:
        """Check one tender and add it to its side."""
        self.extend((tender,))

    def extend(self, tenders: Iterable[Tender]) -> None:
        """Check a batch of tenders and add them all, or none if one is refused."""
        batch = list(tenders)
        buys, sells, expiring = _split(batch, self.interval, self.operator)
        buy_quantities, sell_quantities = _rates(buys), _rates(sells)
        # array("q", list) then +=: twice as fast as array.extend(list)
        self._buy_prices += array("q", buy_price_units([t.price for t in buys]))
        self._sell_prices += array("q", sell_price_units([t.price for t in sells]))
        self._buy_quantities += array("q", buy_quantities)
        self._sell_quantities += array("q", sell_quantities)
        self._buys += buys
        self._sells += sells
        self.expiring += expiring

    def buy_quantity(self, i: int) -> int:
        """Micro-kW of buy ``i``."""
        return self._buy_quantities[i]

    def sell_quantity(self, i: int) -> int:
        """Micro-kW of sell ``i``."""
        return self._sell_quantities[i]

    def columns(self, last: tuple[int, int, int, int] | None = None) -> tuple[array[int], ...]:
        """Buy prices, buy quantities, sell prices, sell quantities, each with ``last``'s
        entry appended if given (then copies; without, the book's own columns)."""
        columns = (self._buy_prices, self._buy_quantities, self._sell_prices,
                   self._sell_quantities)
        if last is None:
            return columns
        return tuple(c + array("q", (x,)) for c, x in zip(columns, last, strict=True))

    def unexpired(self, now: datetime) -> IntervalBook:
        """This book without the tenders expired at ``now`` (itself when none can be)."""
        if not self.expiring:
            return self
        return self._rebuilt([t for t in self._tenders() if t.expires is None or now <= t.expires])

    def without(self, tender_ids: Collection[str]) -> IntervalBook:
        """A new book without the tenders of these ids."""
        return self._rebuilt([t for t in self._tenders() if t.tender_id not in tender_ids])

    def _tenders(self) -> list[Tender]:
        return self._buys + self._sells

    def _rebuilt(self, tenders: list[Tender]) -> IntervalBook:
        return IntervalBook(self.interval, self.operator, tenders)
