"""The uniform-price double auction on integer micro-units — the fast core of clearing.

Prices are integers in micro-currency per kWh and quantities integers in micro-kW (the
conversion from ``Decimal`` happens in :mod:`market.clearing`). Integers make the
auction exact and fast: each side is sorted once, cumulative quantities come from
``itertools.accumulate`` and the crossing is found by binary search, so only the
marginal price level is visited in Python.

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
tie key (the tender id), so the result does not depend on the order of the input.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from heapq import nsmallest
from itertools import accumulate
from operator import neg

__all__ = ["AuctionOutcome", "SideBook", "pro_rata", "run_auction"]


@dataclass(frozen=True, slots=True)
class SideBook:
    """One side of the book: parallel lists of integer prices and quantities (> 0)."""

    prices: Sequence[int]
    quantities: Sequence[int]


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


def _midpoint(lo: int, hi: int) -> int:
    total = lo + hi
    half, odd = divmod(total, 2)
    if odd and half % 2:
        half += 1
    return half


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


def _volume(bp: _SortedPrices, cum_b: list[int], sp: _SortedPrices, cum_s: list[int]) -> int:
    """Largest volume at which the buy price still reaches the sell price."""
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


def _price(
    volume: int,
    bp: _SortedPrices,
    cum_b: list[int],
    sp: _SortedPrices,
    cum_s: list[int],
    floor: int,
    cap: int,
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


def pro_rata(
    members: list[int], quantities: Sequence[int], amount: int, tie_key: Callable[[int], str]
) -> dict[int, int]:
    """Share ``amount`` among ``members`` in proportion to their quantities, exactly.

    Floors first, then one unit each by largest remainder (ties by ``tie_key``).
    """
    total = sum(quantities[i] for i in members)
    if amount >= total:
        return {i: quantities[i] for i in members}
    scaled = [quantities[i] * amount for i in members]
    shares = {i: q // total for i, q in zip(members, scaled, strict=True)}
    left = amount - sum(shares.values())
    if left:
        remainders = [(-(q % total), tie_key(i), i) for i, q in zip(members, scaled, strict=True)]
        for _, _, i in nsmallest(left, remainders):
            shares[i] += 1
    return shares


def _fills(
    order: list[int],
    cum: list[int],
    quantities: Sequence[int],
    full_count: int,
    level_end: int,
    volume: int,
    tie_key: Callable[[int], str],
) -> tuple[dict[int, int], tuple[list[int], int]]:
    full = order[:full_count]
    fills = dict(zip(full, map(quantities.__getitem__, full), strict=True))
    above = cum[full_count - 1] if full_count else 0
    level = order[full_count:level_end]
    level_amount = min(volume - above, cum[level_end - 1] - above) if level else 0
    if level_amount > 0:
        for i, q in pro_rata(level, quantities, level_amount, tie_key).items():
            if q:
                fills[i] = q
    return fills, (level, level_amount)


def _clamp_side(
    book: SideBook, floor: int, cap: int, buying: bool
) -> tuple[Sequence[int], list[int]]:
    """Clamp prices into the band; return (clamped prices, indices that may trade)."""
    prices = book.prices
    n = len(prices)
    if not n:
        return prices, []
    lo, hi = min(prices), max(prices)
    if buying and hi > cap:
        prices = [min(p, cap) for p in prices]
        lo, hi = min(lo, cap), cap
    elif not buying and lo < floor:
        prices = [max(p, floor) for p in prices]
        lo, hi = floor, max(hi, floor)
    if lo >= floor and hi <= cap and min(book.quantities) > 0:
        return prices, list(range(n))
    usable = [i for i in range(n) if book.quantities[i] > 0 and floor <= prices[i] <= cap]
    return prices, usable


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
    b_prices, b_use = _clamp_side(buys, floor, cap, buying=True)
    s_prices, s_use = _clamp_side(sells, floor, cap, buying=False)
    b_use.sort(key=b_prices.__getitem__, reverse=True)
    s_use.sort(key=s_prices.__getitem__)
    bp = _SortedPrices(b_prices, b_use)
    sp = _SortedPrices(s_prices, s_use)
    cum_b = list(accumulate(map(buys.quantities.__getitem__, b_use)))
    cum_s = list(accumulate(map(sells.quantities.__getitem__, s_use)))
    volume = _volume(bp, cum_b, sp, cum_s)
    price = min(max(_price(volume, bp, cum_b, sp, cum_s, floor, cap), floor), cap)
    buy_fills, buy_level = _fills(
        b_use,
        cum_b,
        buys.quantities,
        bisect_left(bp, -price, key=neg),
        bisect_right(bp, -price, key=neg),
        volume,
        buy_tie_key,
    )
    sell_fills, sell_level = _fills(
        s_use,
        cum_s,
        sells.quantities,
        bisect_left(sp, price),
        bisect_right(sp, price),
        volume,
        sell_tie_key,
    )
    return AuctionOutcome(price, volume, buy_fills, sell_fills, buy_level, sell_level)
