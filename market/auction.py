"""The uniform-price double auction on integer micro-units — the fast core of clearing.

Prices are integers in micro-currency per kWh and quantities integers in micro-kW (the
conversion from ``Decimal`` happens as tenders enter a :class:`market.book.IntervalBook`).
Integers make the auction exact; numpy makes it fast: each side is sorted once
(``argsort``), cumulative quantities come from ``cumsum`` and the crossing is found by
``searchsorted``, so only the marginal price level is visited in Python.

Price rule. Let ``Q`` be the largest volume at which the demand curve (buys, highest
price first) still lies at or above the supply curve (sells, lowest price first). Every
price in ``[lo, hi]`` clears ``Q``, where

- ``lo`` = max(price of the last accepted sell, price of the best rejected buy),
- ``hi`` = min(price of the last accepted buy, price of the best rejected sell);

the clearing price is the midpoint of ``[lo, hi]`` (rounded half-even to one micro-unit;
a partly accepted tender pins ``lo == hi`` to its own price). With nothing traded, a
book with both sides takes the midpoint of best bid and best ask, a book of buys only
clears at the cap (demand cannot be met), a book of sells only, or an empty book, at the
floor. The price is then clamped to ``[floor, cap]``; buys priced above the cap bid the
cap, sells priced below the floor ask the floor, and orders outside the band never trade.

Allocation. Buys priced above the price and sells priced below it are filled in full,
those on the wrong side of it not at all. The orders priced exactly at it (the marginal
level) share what is left pro rata to their quantity: each gets the floor of its share and
the left-over micro-units go one each by largest remainder, ties broken by the caller's
tie key (the tender id), so the result does not depend on the order of the input. Fills
are listed in the order of the side book.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from heapq import nsmallest

import numpy as np
import numpy.typing as npt

__all__ = ["AuctionOutcome", "SideBook", "pro_rata", "run_auction"]

Units = npt.NDArray[np.int64]
"""A column of integer micro-units."""

_INT64_MAX = 2**63 - 1


@dataclass(frozen=True, slots=True)
class SideBook:
    """One side of the book: parallel columns of integer prices and quantities."""

    prices: Units
    quantities: Units


@dataclass(frozen=True, slots=True)
class AuctionOutcome:
    """Clearing price, traded volume and the fills of every order that traded.

    ``buy_fills`` and ``sell_fills`` map an order's index in its side book to its filled
    quantity; orders that did not trade are absent. ``buy_level`` / ``sell_level`` list the
    indices of the marginal orders (priced exactly at the clearing price) with their
    level's accepted total, for callers that ration the margin differently.
    """

    price: int
    volume: int
    buy_fills: dict[int, int]
    sell_fills: dict[int, int]
    buy_level: tuple[list[int], int]
    sell_level: tuple[list[int], int]


@dataclass(frozen=True, slots=True)
class _Sorted:
    """The tradable orders of one side, best price first, with running totals."""

    order: Units
    prices: Units
    cumulative: Units

    @property
    def best(self) -> int:
        return int(self.prices[0])


def _midpoint(lo: int, hi: int) -> int:
    total = lo + hi
    half, odd = divmod(total, 2)
    if odd and half % 2:
        half += 1
    return half


def pro_rata(
    members: Sequence[int], quantities: Sequence[int], amount: int, tie_key: Callable[[int], str]
) -> dict[int, int]:
    """Share ``amount`` among ``members`` in proportion to ``quantities`` (one per member,
    in the same order), exactly: floors first, then one unit each by largest remainder
    (ties by ``tie_key`` of the member)."""
    total = sum(quantities)
    if amount >= total:
        return dict(zip(members, quantities, strict=True))
    scaled = [q * amount for q in quantities]
    shares = {i: q // total for i, q in zip(members, scaled, strict=True)}
    left = amount - sum(shares.values())
    if left:
        remainders = [(-(q % total), tie_key(i), i) for i, q in zip(members, scaled, strict=True)]
        for _, _, i in nsmallest(left, remainders):
            shares[i] += 1
    return shares


def _tradable(book: SideBook, floor: int, cap: int, buying: bool) -> _Sorted:
    """Clamp prices into the band (buys above the cap bid it, sells below the floor ask
    it), drop what cannot trade, and sort best first."""
    quantities = book.quantities
    if len(quantities) and int(quantities.max()) > _INT64_MAX // len(quantities):
        raise OverflowError(
            f"a side of {len(quantities)} orders with up to {int(quantities.max())} micro-kW "
            "each could exceed the auction's 64-bit totals"
        )
    if buying:
        prices = np.minimum(book.prices, cap)
        usable = ((quantities > 0) & (prices >= floor)).nonzero()[0]
        order = usable[(-prices[usable]).argsort()]
    else:
        prices = np.maximum(book.prices, floor)
        usable = ((quantities > 0) & (prices <= cap)).nonzero()[0]
        order = usable[prices[usable].argsort()]
    return _Sorted(order, prices[order], quantities[order].cumsum())


def _volume(buys: _Sorted, sells: _Sorted) -> int:
    """Largest volume at which the buy price still reaches the sell price: the last buy
    whose first unit meets a sell priced at or below it, and the sells up to its price."""
    if not len(buys.order) or not len(sells.order):
        return 0
    first_units = np.concatenate(([1], buys.cumulative[:-1] + 1))
    seller = sells.cumulative.searchsorted(first_units)
    met = seller < len(sells.order)
    met[met] = buys.prices[met] >= sells.prices[seller[met]]
    last = int(np.count_nonzero(met)) - 1  # met is true for a prefix of the buys
    if last < 0:
        return 0
    sells_in = int(sells.prices.searchsorted(buys.prices[last], side="right"))
    return min(int(buys.cumulative[last]), int(sells.cumulative[sells_in - 1]))


def _price(volume: int, buys: _Sorted, sells: _Sorted, floor: int, cap: int) -> int:
    if volume == 0:
        if len(buys.order) and len(sells.order):
            return _midpoint(buys.best, sells.best)
        return cap if len(buys.order) else floor
    lo = int(sells.prices[sells.cumulative.searchsorted(volume)])
    hi = int(buys.prices[buys.cumulative.searchsorted(volume)])
    rejected_buy = int(buys.cumulative.searchsorted(volume + 1))
    if rejected_buy < len(buys.order):
        lo = max(lo, int(buys.prices[rejected_buy]))
    rejected_sell = int(sells.cumulative.searchsorted(volume + 1))
    if rejected_sell < len(sells.order):
        hi = min(hi, int(sells.prices[rejected_sell]))
    return _midpoint(lo, hi)


def _fills(
    side: _Sorted,
    quantities: Units,
    price: int,
    buying: bool,
    volume: int,
    tie_key: Callable[[int], str],
) -> tuple[dict[int, int], tuple[list[int], int]]:
    """Orders better than ``price`` in full, the level at it pro rata to what is left."""
    ascending, key = (-side.prices, -price) if buying else (side.prices, price)
    full_count = int(ascending.searchsorted(key, side="left"))
    level_end = int(ascending.searchsorted(key, side="right"))
    filled = np.zeros(len(quantities), dtype=np.int64)
    full = side.order[:full_count]
    filled[full] = quantities[full]
    above = int(side.cumulative[full_count - 1]) if full_count else 0
    level = side.order[full_count:level_end].tolist()
    level_amount = 0
    if level:
        level_amount = min(volume - above, int(side.cumulative[level_end - 1]) - above)
    if level_amount > 0:
        level_quantities = quantities[level].tolist()
        for i, q in pro_rata(level, level_quantities, level_amount, tie_key).items():
            filled[i] = q
    traded = filled.nonzero()[0]
    return dict(zip(traded.tolist(), filled[traded].tolist(), strict=True)), (level, level_amount)


def run_auction(
    buys: SideBook,
    sells: SideBook,
    *,
    floor: int,
    cap: int,
    buy_tie_key: Callable[[int], str],
    sell_tie_key: Callable[[int], str],
) -> AuctionOutcome:
    """Clear one interval: the price rule and allocation of the module docstring."""
    if floor > cap:
        raise ValueError(f"price floor {floor} is above the price cap {cap} (micro-units)")
    b = _tradable(buys, floor, cap, buying=True)
    s = _tradable(sells, floor, cap, buying=False)
    volume = _volume(b, s)
    price = min(max(_price(volume, b, s, floor, cap), floor), cap)
    buy_fills, buy_level = _fills(b, buys.quantities, price, True, volume, buy_tie_key)
    sell_fills, sell_level = _fills(s, sells.quantities, price, False, volume, sell_tie_key)
    return AuctionOutcome(price, volume, buy_fills, sell_fills, buy_level, sell_level)
