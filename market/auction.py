"""The uniform-price double auction on integer micro-units — the fast core of clearing.

Prices are integers in micro-currency per kWh and quantities integers in micro-kW (the
conversion from ``Decimal`` happens as tenders enter a :class:`market.book.IntervalBook`).
Integers make the auction exact. Each side is sorted once, cumulative quantities give the
crossing by binary search, and only the marginal price level is shared in Python. Two
cores do this and give identical outcomes (a property test compares them): numpy
(``argsort``, ``cumsum``, ``searchsorted``) for books of ``VECTORISE_FROM`` orders or
more, plain Python below that — a numpy call costs about a microsecond however short its
array, and a building's interval book holds tens of orders, where the Python core is
twice as fast.

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

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from heapq import nsmallest
from itertools import accumulate
from operator import neg

import numpy as np
import numpy.typing as npt

__all__ = ["VECTORISE_FROM", "AuctionOutcome", "SideBook", "pro_rata", "run_auction"]

Units = npt.NDArray[np.int64]
"""A column of integer micro-units."""

_INT64_MAX = 2**63 - 1
VECTORISE_FROM = 100
"""Orders in a book (both sides) from which the numpy core is the faster one."""
TieKey = Callable[[int], str]


@dataclass(frozen=True, slots=True)
class SideBook:
    """One side of the book: parallel columns of integer prices and quantities."""

    prices: Sequence[int]
    quantities: Sequence[int]


@dataclass(frozen=True, slots=True)
class AuctionOutcome:
    """Clearing price, traded volume and the fills of every order that traded.

    ``buy_fills`` and ``sell_fills`` map an order's index in its side book to its filled
    quantity, in index order; orders that did not trade are absent. ``buy_level`` /
    ``sell_level`` list the indices (ascending) of the marginal orders (priced exactly at
    the clearing price) with their level's accepted total, for callers that ration the
    margin differently.
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
    members: Sequence[int], quantities: Sequence[int], amount: int, tie_key: TieKey
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


def _tradable(book_prices: Units, quantities: Units, floor: int, cap: int,
              buying: bool) -> _Sorted:
    """Clamp prices into the band (buys above the cap bid it, sells below the floor ask
    it), drop what cannot trade, and sort best first."""
    if len(quantities) and int(quantities.max()) > _INT64_MAX // len(quantities):
        raise OverflowError(
            f"a side of {len(quantities)} orders with up to {int(quantities.max())} micro-kW "
            "each could exceed the auction's 64-bit totals"
        )
    if buying:
        prices = np.minimum(book_prices, cap)
        usable = ((quantities > 0) & (prices >= floor)).nonzero()[0]
        order = usable[(-prices[usable]).argsort()]
    else:
        prices = np.maximum(book_prices, floor)
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
    tie_key: TieKey,
) -> tuple[dict[int, int], tuple[list[int], int]]:
    """Orders better than ``price`` in full, the level at it pro rata to what is left."""
    ascending, key = (-side.prices, -price) if buying else (side.prices, price)
    full_count = int(ascending.searchsorted(key, side="left"))
    level_end = int(ascending.searchsorted(key, side="right"))
    filled = np.zeros(len(quantities), dtype=np.int64)
    full = side.order[:full_count]
    filled[full] = quantities[full]
    above = int(side.cumulative[full_count - 1]) if full_count else 0
    level = sorted(side.order[full_count:level_end].tolist())
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
    buy_tie_key: TieKey,
    sell_tie_key: TieKey,
) -> AuctionOutcome:
    """Clear one interval: the price rule and allocation of the module docstring."""
    if floor > cap:
        raise ValueError(f"price floor {floor} is above the price cap {cap} (micro-units)")
    vectorised = len(buys.prices) + len(sells.prices) >= VECTORISE_FROM
    core = _numpy_core if vectorised else _python_core
    return core(buys, sells, floor, cap, buy_tie_key, sell_tie_key)


def _numpy_core(
    buys: SideBook, sells: SideBook, floor: int, cap: int, buy_tie_key: TieKey,
    sell_tie_key: TieKey,
) -> AuctionOutcome:
    buy_q = np.asarray(buys.quantities, dtype=np.int64)
    sell_q = np.asarray(sells.quantities, dtype=np.int64)
    b = _tradable(np.asarray(buys.prices, dtype=np.int64), buy_q, floor, cap, buying=True)
    s = _tradable(np.asarray(sells.prices, dtype=np.int64), sell_q, floor, cap, buying=False)
    volume = _volume(b, s)
    price = min(max(_price(volume, b, s, floor, cap), floor), cap)
    buy_fills, buy_level = _fills(b, buy_q, price, True, volume, buy_tie_key)
    sell_fills, sell_level = _fills(s, sell_q, price, False, volume, sell_tie_key)
    return AuctionOutcome(price, volume, buy_fills, sell_fills, buy_level, sell_level)


# -- the plain Python core, for small books ---------------------------------------------


class _SortedPrices:
    """Prices in sorted order without building the list: read O(log n) times per auction."""

    __slots__ = ("_order", "_prices")

    def __init__(self, prices: Sequence[int], order: list[int]) -> None:
        self._prices = prices
        self._order = order

    def __len__(self) -> int:
        return len(self._order)

    def __getitem__(self, k: int) -> int:
        return self._prices[self._order[k]]


def _py_tradable(
    book: SideBook, floor: int, cap: int, buying: bool
) -> tuple[list[int], _SortedPrices, list[int]]:
    """Order (best price first), prices in that order and running totals, as _tradable."""
    prices, quantities = book.prices, book.quantities
    if not prices:
        return [], _SortedPrices(prices, []), []
    if buying and max(prices) > cap:
        prices = [min(p, cap) for p in prices]
    elif not buying and min(prices) < floor:
        prices = [max(p, floor) for p in prices]
    if floor <= min(prices) and max(prices) <= cap and min(quantities) > 0:
        order = list(range(len(prices)))
    else:
        order = [i for i, p in enumerate(prices) if quantities[i] > 0 and floor <= p <= cap]
    order.sort(key=prices.__getitem__, reverse=buying)
    return order, _SortedPrices(prices, order), list(accumulate(map(quantities.__getitem__, order)))


def _python_core(
    buys: SideBook, sells: SideBook, floor: int, cap: int, buy_tie_key: TieKey,
    sell_tie_key: TieKey,
) -> AuctionOutcome:
    b_use, bp, cum_b = _py_tradable(buys, floor, cap, buying=True)
    s_use, sp, cum_s = _py_tradable(sells, floor, cap, buying=False)
    volume = _py_volume(bp, cum_b, sp, cum_s)
    price = min(max(_py_price(volume, bp, cum_b, sp, cum_s, floor, cap), floor), cap)
    buy_fills, buy_level = _py_fills(
        b_use, cum_b, buys.quantities, bisect_left(bp, -price, key=neg),
        bisect_right(bp, -price, key=neg), volume, buy_tie_key,
    )
    sell_fills, sell_level = _py_fills(
        s_use, cum_s, sells.quantities, bisect_left(sp, price), bisect_right(sp, price),
        volume, sell_tie_key,
    )
    return AuctionOutcome(price, volume, buy_fills, sell_fills, buy_level, sell_level)


def _py_volume(bp: _SortedPrices, cum_b: list[int], sp: _SortedPrices, cum_s: list[int]) -> int:
    """As :func:`_volume`, by binary search over the buys."""
    if not bp or not sp:
        return 0

    def first_unit_trades(k: int) -> bool:
        unit = (cum_b[k - 1] if k else 0) + 1
        j = bisect_left(cum_s, unit)
        return j < len(sp) and bp[k] >= sp[j]

    if not first_unit_trades(0):
        return 0
    lo, hi = 0, len(bp) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if first_unit_trades(mid):
            lo = mid
        else:
            hi = mid - 1
    sells_in = bisect_right(sp, bp[lo])
    return min(cum_b[lo], cum_s[sells_in - 1])


def _py_price(
    volume: int, bp: _SortedPrices, cum_b: list[int], sp: _SortedPrices, cum_s: list[int],
    floor: int, cap: int,
) -> int:
    if volume == 0:
        if bp and sp:
            return _midpoint(bp[0], sp[0])
        return cap if bp else floor
    lo = sp[bisect_left(cum_s, volume)]
    hi = bp[bisect_left(cum_b, volume)]
    rejected_buy = bisect_left(cum_b, volume + 1)
    if rejected_buy < len(bp):
        lo = max(lo, bp[rejected_buy])
    rejected_sell = bisect_left(cum_s, volume + 1)
    if rejected_sell < len(sp):
        hi = min(hi, sp[rejected_sell])
    return _midpoint(lo, hi)


def _py_fills(
    order: list[int], cum: list[int], quantities: Sequence[int], full_count: int,
    level_end: int, volume: int, tie_key: TieKey,
) -> tuple[dict[int, int], tuple[list[int], int]]:
    full = order[:full_count]
    fills = dict(zip(full, map(quantities.__getitem__, full), strict=True))
    above = cum[full_count - 1] if full_count else 0
    level = sorted(order[full_count:level_end])
    level_amount = min(volume - above, cum[level_end - 1] - above) if level else 0
    if level_amount > 0:
        level_quantities = [quantities[i] for i in level]
        for i, q in pro_rata(level, level_quantities, level_amount, tie_key).items():
            if q:
                fills[i] = q
    return dict(sorted(fills.items())), (level, level_amount)
