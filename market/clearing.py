"""Clearing one delivery interval of the micromarket: ``clear(tenders, interval, ...)``.

A uniform-price double auction over the agents' tenders (each agent may send several
tenders per side — a curve) plus the external counterparty's standing tenders: an import
*sell* at its price up to the PCC import limit and an export *buy* at its price up to
the PCC export limit. The price rule, the pro-rata sharing of the marginal price level and
its deterministic tie-break are in :mod:`market.auction`. Tenders enter an
:class:`~market.book.IntervalBook`, which checks them and converts them to integer
micro-units as they arrive (``clear`` takes such a book, or builds one from bare tenders);
this module runs the auction on it and turns fills into TeMIX transactions, listed buys
first, then sells, each in the order the tenders arrived.

- Every accepted agent tender becomes a :class:`~market.temix.Transaction` between the
  agent's party and the market operator's party, at the clearing price.
- The external tenders never become internal transactions: the residual
  ``import_kw - export_kw`` is the building's net position for the interval, which the
  trader squares outside.
- Conversion is conservative: a buy price rounds down and a sell price up to one
  micro-unit per kWh, a quantity down to one micro-kW (a tender below that is ignored),
  so no buy is ever filled above its price nor a sell below it. The auction adds in 64
  bits: a tender or PCC limit may carry at most 1 GW (``QUANTITY_LIMIT_KW``), a price band
  must lie within ±10⁹ per kWh (``PRICE_LIMIT``), and prices beyond that are held at it.
- ``price_floor``/``price_cap`` bound the price in both modes; buys above the cap bid the
  cap (a critical load "buys at any price up to the cap"), sells below the floor ask it.
- Islanded (``islanded=True``) the external tenders are ignored, and so is the grid that
  backed the building's trades: ``held_import_kw``, the net import already traded for the
  interval (the operator's position), can no longer arrive. The operator therefore buys it
  (in whole watts) inside the building at the cap (a held net export: sells it at the
  floor), so sellers cover it or flexible buyers sell back; the positions that set the
  devices' operating levels then add up to what the island itself supplies. This cover
  is served before new demand at the cap; any part of it the island cannot supply is
  reported as shed, and any held export it cannot absorb as a curtailment. Given
  ``held_by`` (each party's held net purchase, kW), the report names the holders: the
  shortfall falls on the parties still holding purchases after the round (flexible loads
  have sold theirs back), least important first and pro rata within a priority (tender
  id ``island-cover:<party>``), which is the order the islanding controller sheds in; an
  unabsorbed export falls on the net sellers pro rata. Without it, or for any part the
  holdings do not account for, the operator is named (tender id ``island-cover``).
  If the price reaches the
  cap with demand left unserved (in an island, or grid-connected when the PCC limits
  bind), the buys at the cap are rationed by priority (party →
  integer, higher = more important, default 0): the lowest priority is shed first, pro rata
  within a priority; each buy short of its quantity is reported as a :class:`ShedDecision`.
  If the price falls to the floor with supply left over, the sells at the floor are cut
  pro rata and reported as :class:`Curtailment`. Accepted buys always equal accepted sells
  plus net import, so the market never reports a balance it cannot deliver.
- An all-or-none tender is never filled in part: if the auction would, the tender is
  withdrawn and the interval cleared again (repeated until no all-or-none tender is split);
  a withdrawn all-or-none buy at the cap is reported as shed in full.
- With ``now`` given, tenders expired at ``now`` are left out and transactions carry
  ``executed_at=now``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import cached_property

from market.auction import AuctionOutcome, SideBook, pro_rata, run_auction
from market.book import DEFAULT_OPERATOR, IntervalBook
from market.model import trusted_transactions
from market.temix import Interval, IntervalError, PriceError, QuantityError, Tender, Transaction
from market.units import (
    PRICE_LIMIT,
    PRICE_SCALE,
    QUANTITY_LIMIT_KW,
    QUANTITY_SCALE,
    price_units,
    quantity_units,
    units_to_kw,
    units_to_price,
)

__all__ = [
    "DEFAULT_OPERATOR",
    "DEFAULT_PRICE_CAP",
    "DEFAULT_PRICE_FLOOR",
    "PRICE_SCALE",
    "QUANTITY_SCALE",
    "ClearingResult",
    "Curtailment",
    "ExternalTenders",
    "Fill",
    "IntervalBook",
    "ShedDecision",
    "clear",
    "price_units",
    "quantity_units",
    "units_to_kw",
    "units_to_price",
]

DEFAULT_PRICE_FLOOR = Decimal("0")
DEFAULT_PRICE_CAP = Decimal("10")
"""Value of lost load per kWh used when a site sets no cap."""

_IMPORT_ID = "external-import"
_EXPORT_ID = "external-export"
_COVER_ID = "island-cover"
_WATT_U = QUANTITY_SCALE // 1000
"""One watt in micro-kW."""


@dataclass(frozen=True, slots=True)
class ExternalTenders:
    """The external counterparty's standing tenders at the point of common coupling.

    It sells up to ``import_limit_kw`` at ``import_price`` and buys up to
    ``export_limit_kw`` at ``export_price`` (both per kWh). The export price must be
    below the import price, or the market would import in order to export; for net
    metering give an export price one micro-unit below the import price.
    """

    import_price: Decimal
    export_price: Decimal
    import_limit_kw: Decimal
    export_limit_kw: Decimal

    def __post_init__(self) -> None:
        limits = (self.import_limit_kw, self.export_limit_kw)
        if not all(0 <= kw <= QUANTITY_LIMIT_KW for kw in limits):
            raise QuantityError(
                f"PCC limits must be from 0 to {QUANTITY_LIMIT_KW} kW, got import "
                f"{self.import_limit_kw} and export {self.export_limit_kw}; fix the site's "
                "pcc limits"
            )
        if not all(abs(p) < PRICE_LIMIT for p in (self.import_price, self.export_price)):
            raise PriceError(
                f"external prices must lie within ±{PRICE_LIMIT} per kWh, got import "
                f"{self.import_price} and export {self.export_price}"
            )
        if self.export_price >= self.import_price:
            raise PriceError(
                f"external export price {self.export_price} must be below the import price "
                f"{self.import_price} (per kWh)"
            )


@dataclass(frozen=True, slots=True)
class ShedDecision:
    """A buy rationed at the price cap: ``shed_kw`` of it cannot be served."""

    tender_id: str
    party: str
    priority: int
    requested_kw: Decimal
    served_kw: Decimal

    @property
    def shed_kw(self) -> Decimal:
        return self.requested_kw - self.served_kw


@dataclass(frozen=True, slots=True)
class Curtailment:
    """A sell cut back at the price floor: ``curtailed_kw`` of it must not be produced."""

    tender_id: str
    party: str
    offered_kw: Decimal
    accepted_kw: Decimal

    @property
    def curtailed_kw(self) -> Decimal:
        return self.offered_kw - self.accepted_kw


@dataclass(frozen=True, slots=True)
class Fill:
    """The accepted part of one agent tender."""

    tender: Tender
    quantity_kw: Decimal


@dataclass(frozen=True)
class ClearingResult:
    """Outcome of clearing one interval.

    ``transactions`` and ``fills`` are built on first access (building thousands of
    validated transactions costs more than the auction itself).
    """

    interval: Interval
    price: Decimal
    import_kw: Decimal
    export_kw: Decimal
    shed: tuple[ShedDecision, ...]
    curtailed: tuple[Curtailment, ...]
    islanded: bool
    operator: str
    executed_at: datetime | None
    accepted_tenders: tuple[Tender, ...] = field(repr=False)
    accepted_units: tuple[int, ...] = field(repr=False)
    """Accepted agent tenders and, in the same order, their accepted micro-kW."""
    island_cover_kw: Decimal = Decimal(0)
    """Islanded: the held net import the operator bought inside the building (negative: a
    held net export it sold inside)."""

    @property
    def net_import_kw(self) -> Decimal:
        """The building's net position to square outside: imports − exports."""
        return self.import_kw - self.export_kw

    @cached_property
    def fills(self) -> tuple[Fill, ...]:
        return tuple(
            Fill(t, units_to_kw(q))
            for t, q in zip(self.accepted_tenders, self.accepted_units, strict=True)
        )

    @cached_property
    def transactions(self) -> tuple[Transaction, ...]:
        """One transaction per accepted tender, agent ↔ operator, at the clearing price."""
        return tuple(
            trusted_transactions(
                self.accepted_tenders,
                [units_to_kw(q) for q in self.accepted_units],
                self.operator,
                self.price,
                self.executed_at,
            )
        )

    def accepted_kw(self, tender_id: str) -> Decimal:
        """Accepted rate of one tender (zero when it did not trade)."""
        for t, q in zip(self.accepted_tenders, self.accepted_units, strict=True):
            if t.tender_id == tender_id:
                return units_to_kw(q)
        return Decimal(0)


@dataclass(frozen=True, slots=True)
class _OperatorLine:
    """The operator's own order on each side, placed after the agents' orders: the
    external counterparty's standing tenders, or (islanded) the cover of the held net
    position. ``reported_by`` names the party whose shortfall is reported (the operator
    for the cover; nobody for the grid's tenders, whose unused part is not a decision)."""

    sell_price: int
    sell_qty: int
    sell_id: str
    buy_price: int
    buy_qty: int
    buy_id: str
    buy_priority: int = 0
    reported_by: str | None = None


@dataclass(frozen=True, slots=True)
class _Book:
    """An interval book with the operator's line placed after the agents' orders."""

    tenders: IntervalBook
    line: _OperatorLine | None

    @property
    def buys(self) -> Sequence[Tender]:
        return self.tenders.buys

    @property
    def sells(self) -> Sequence[Tender]:
        return self.tenders.sells

    def buy_id(self, i: int) -> str:
        """Tie key of buy ``i`` (its tender id): read only at the margin, so not listed."""
        buys = self.tenders.buys
        return buys[i].tender_id if i < len(buys) else self.operator_line.buy_id

    def sell_id(self, i: int) -> str:
        """Tie key of sell ``i`` (its tender id)."""
        sells = self.tenders.sells
        return sells[i].tender_id if i < len(sells) else self.operator_line.sell_id

    def buy_qty(self, i: int) -> int:
        """Micro-kW of buy ``i``."""
        book = self.tenders
        return book.buy_quantity(i) if i < len(book.buys) else self.operator_line.buy_qty

    def sell_qty(self, i: int) -> int:
        """Micro-kW of sell ``i``."""
        book = self.tenders
        return book.sell_quantity(i) if i < len(book.sells) else self.operator_line.sell_qty

    @property
    def operator_line(self) -> _OperatorLine:
        if self.line is None:
            raise AssertionError("an index past the agents' orders without an operator line")
        return self.line

    def sides(self) -> tuple[SideBook, SideBook]:
        """Both sides as the auction reads them, the operator's line last."""
        last = None
        if (line := self.line) is not None:
            last = (line.buy_price, line.buy_qty, line.sell_price, line.sell_qty)
        buy_prices, buy_qty, sell_prices, sell_qty = self.tenders.columns(last)
        return SideBook(buy_prices, buy_qty), SideBook(sell_prices, sell_qty)


def _external_line(external: ExternalTenders) -> _OperatorLine:
    return _OperatorLine(
        sell_price=price_units(external.import_price, round_up=True),
        sell_qty=quantity_units(external.import_limit_kw),
        sell_id=_IMPORT_ID,
        buy_price=price_units(external.export_price),
        buy_qty=quantity_units(external.export_limit_kw),
        buy_id=_EXPORT_ID,
    )


def _cover_line(
    held_import_kw: Decimal, floor_u: int, cap_u: int, priorities: Mapping[str, int], operator: str
) -> _OperatorLine | None:
    """Islanded: buy the held net import inside at the cap (sell a held export at the
    floor), served before any new demand at the cap. Whole watts only: positions carry
    micro-kW of rounding from the agents' plans, and a cover short by such dust would
    set the island's price to the cap."""
    held_u = quantity_units(abs(held_import_kw)) // _WATT_U * _WATT_U
    if not held_u:
        return None
    return _OperatorLine(
        sell_price=floor_u,
        sell_qty=0 if held_import_kw > 0 else held_u,
        sell_id=_COVER_ID,
        buy_price=cap_u,
        buy_qty=held_u if held_import_kw > 0 else 0,
        buy_id=_COVER_ID,
        buy_priority=max(priorities.values(), default=0) + 1,
        reported_by=operator,
    )


def _ration_by_priority(
    book: _Book, level: list[int], amount: int, priorities: Mapping[str, int]
) -> dict[int, int]:
    """Serve the marginal buys highest priority first, pro rata within a priority."""
    agents = len(book.buys)
    groups: dict[int, list[int]] = {}
    for i in level:
        if i < agents:
            prio = priorities.get(book.buys[i].party, 0)
        else:
            prio = book.operator_line.buy_priority
        groups.setdefault(prio, []).append(i)
    served: dict[int, int] = {}
    left = amount
    for prio in sorted(groups, reverse=True):
        members = groups[prio]
        share = pro_rata(members, [book.buy_qty(i) for i in members], left, book.buy_id)
        served.update(share)
        left -= sum(share.values())
    return served


def _run(book: _Book, floor_u: int, cap_u: int) -> AuctionOutcome:
    buys, sells = book.sides()
    return run_auction(
        buys,
        sells,
        floor=floor_u,
        cap=cap_u,
        buy_tie_key=book.buy_id,
        sell_tie_key=book.sell_id,
    )


def _split_all_or_none(
    book: _Book, buy_fills: Mapping[int, int], outcome: AuctionOutcome
) -> set[str]:
    """Ids of all-or-none tenders filled in part. Only the marginal price level can be
    filled in part (and rationing changes only it), so only its members are looked at."""
    split: set[str] = set()
    for tenders, qty, fills, (level, _) in (
        (book.buys, book.buy_qty, buy_fills, outcome.buy_level),
        (book.sells, book.sell_qty, outcome.sell_fills, outcome.sell_level),
    ):
        for i in level:
            if i < len(tenders) and tenders[i].all_or_none and 0 < fills.get(i, 0) < qty(i):
                split.add(tenders[i].tender_id)
    return split


def _allocate(
    book: _Book, outcome: AuctionOutcome, priorities: Mapping[str, int], cap_u: int
) -> tuple[dict[int, int], list[ShedDecision]]:
    """Buy fills after rationing the cap level by priority, and the shed decisions."""
    buy_fills = dict(outcome.buy_fills)
    level, amount = outcome.buy_level
    if outcome.price != cap_u or not level or amount >= sum(map(book.buy_qty, level)):
        return buy_fills, []
    served = _ration_by_priority(book, level, amount, priorities)
    for i in level:
        buy_fills.pop(i, None)
        if served[i]:
            buy_fills[i] = served[i]
    return buy_fills, _shed_decisions(book, level, served, priorities)


def clear(
    tenders: Iterable[Tender] | IntervalBook,
    interval: Interval,
    *,
    external: ExternalTenders | None = None,
    islanded: bool = False,
    price_floor: Decimal = DEFAULT_PRICE_FLOOR,
    price_cap: Decimal = DEFAULT_PRICE_CAP,
    priorities: Mapping[str, int] | None = None,
    operator: str = DEFAULT_OPERATOR,
    now: datetime | None = None,
    held_import_kw: Decimal = Decimal(0),
    held_by: Mapping[str, Decimal] | None = None,
) -> ClearingResult:
    """Clear ``interval`` over ``tenders``, or over a book of them built as they arrived
    (see the module docstring for every rule)."""
    if price_floor > price_cap:
        raise PriceError(f"price floor {price_floor} is above the price cap {price_cap}")
    if not (price_floor > -PRICE_LIMIT and price_cap < PRICE_LIMIT):
        raise PriceError(
            f"price floor {price_floor} and cap {price_cap} must lie within ±{PRICE_LIMIT}"
        )
    floor_u, cap_u = price_units(price_floor, round_up=True), price_units(price_cap)
    tenders = _interval_book(tenders, interval, operator)
    if now is not None:
        tenders = tenders.unexpired(now)
    priorities = priorities or {}
    if islanded:
        line = _cover_line(held_import_kw, floor_u, cap_u, priorities, operator)
    else:
        line = None if external is None else _external_line(external)
    withdrawn: list[Tender] = []
    while True:
        book = _Book(tenders, line)
        outcome = _run(book, floor_u, cap_u)
        buy_fills, shed = _allocate(book, outcome, priorities, cap_u)
        split = _split_all_or_none(book, buy_fills, outcome)
        if not split:
            break
        withdrawn += [t for t in tenders.buys if t.tender_id in split and t.price >= price_cap]
        tenders = tenders.without(split)
    shed += [
        ShedDecision(t.tender_id, t.party, priorities.get(t.party, 0), t.quantity, Decimal(0))
        for t in withdrawn
    ]
    curtailed = _curtailments(book, outcome) if outcome.price == floor_u else []
    if islanded and held_by is not None:
        held = _held_after(book, buy_fills, outcome.sell_fills, held_by)
        shed = _shed_by_holders(shed, held, priorities, operator)
        curtailed = _curtailed_by_holders(curtailed, held, operator)
    shed.sort(key=lambda decision: decision.tender_id)  # in any order of the tenders
    return _result(book, outcome, buy_fills, shed, curtailed, interval, islanded, operator, now)


def _interval_book(
    tenders: Iterable[Tender] | IntervalBook, interval: Interval, operator: str
) -> IntervalBook:
    if not isinstance(tenders, IntervalBook):
        return IntervalBook(interval, operator, tenders)
    if tenders.interval != interval or tenders.operator != operator:
        raise IntervalError(
            f"the book given is for {tenders.interval} to {tenders.operator!r}, not for "
            f"{interval} to {operator!r}"
        )
    return tenders


def _result(
    book: _Book,
    outcome: AuctionOutcome,
    buy_fills: dict[int, int],
    shed: list[ShedDecision],
    curtailed: list[Curtailment],
    interval: Interval,
    islanded: bool,
    operator: str,
    now: datetime | None,
) -> ClearingResult:
    n_buys, n_sells = len(book.buys), len(book.sells)
    sell_fills = dict(outcome.sell_fills)
    export_u = buy_fills.pop(n_buys, 0)
    import_u = sell_fills.pop(n_sells, 0)
    cover_u = 0
    if islanded:
        cover_u, import_u, export_u = export_u - import_u, 0, 0
    buys, sells = book.buys, book.sells
    accepted = [buys[i] for i in buy_fills] + [sells[i] for i in sell_fills]
    units = [*buy_fills.values(), *sell_fills.values()]
    return ClearingResult(
        interval=interval,
        price=units_to_price(outcome.price),
        import_kw=units_to_kw(import_u),
        export_kw=units_to_kw(export_u),
        shed=tuple(shed),
        curtailed=tuple(curtailed),
        islanded=islanded,
        operator=operator,
        executed_at=now,
        accepted_tenders=tuple(accepted),
        accepted_units=tuple(units),
        island_cover_kw=units_to_kw(cover_u),
    )


def _shed_decisions(
    book: _Book, level: Sequence[int], served: Mapping[int, int], priorities: Mapping[str, int]
) -> list[ShedDecision]:
    decisions = []
    agents = len(book.buys)
    for i in sorted(level, key=book.buy_id):
        if served[i] >= book.buy_qty(i):
            continue
        if i < agents:
            t = book.buys[i]
            party, priority = t.party, priorities.get(t.party, 0)
        elif (reporter := book.operator_line.reported_by) is not None:
            party, priority = reporter, book.operator_line.buy_priority
        else:
            continue
        decisions.append(
            ShedDecision(
                tender_id=book.buy_id(i),
                party=party,
                priority=priority,
                requested_kw=units_to_kw(book.buy_qty(i)),
                served_kw=units_to_kw(served[i]),
            )
        )
    return decisions


def _held_after(
    book: _Book, buy_fills: Mapping[int, int], sell_fills: Mapping[int, int],
    held_by: Mapping[str, Decimal],
) -> dict[str, int]:
    """Each party's net purchase on the interval once this round is booked (micro-kW;
    negative: a net sale): what it held, plus what it bought, minus what it sold back."""
    held = {party: quantity_units(kw) for party, kw in held_by.items()}
    for tenders, fills, sign in ((book.buys, buy_fills, 1), (book.sells, sell_fills, -1)):
        for i, units in fills.items():
            if i < len(tenders):
                party = tenders[i].party
                held[party] = held.get(party, 0) + sign * units
    return held


def _lowest_first(
    amount: int, holdings: Mapping[str, int], priorities: Mapping[str, int]
) -> dict[str, int]:
    """``amount`` shared among holders, least important first, pro rata within a priority,
    never more than a holder holds."""
    groups: dict[int, list[str]] = {}
    for party in sorted(holdings):
        groups.setdefault(priorities.get(party, 0), []).append(party)
    shares: dict[str, int] = {}
    left = amount
    for priority in sorted(groups):
        parties = groups[priority]
        share = pro_rata(list(range(len(parties))), [holdings[p] for p in parties], left,
                         parties.__getitem__)
        shares.update((parties[k], units) for k, units in share.items() if units)
        left -= sum(share.values())
        if not left:
            break
    return shares


def _shed_by_holders(
    shed: list[ShedDecision], held: Mapping[str, int], priorities: Mapping[str, int],
    operator: str,
) -> list[ShedDecision]:
    """The cover's shortfall named by the parties whose held purchases it leaves
    undelivered, least important first (what the islanding controller sheds first)."""
    out = []
    for decision in shed:
        if decision.tender_id != _COVER_ID or decision.party != operator:
            out.append(decision)
            continue
        holdings = {p: units for p, units in held.items() if units > 0 and p != operator}
        named = _lowest_first(quantity_units(decision.shed_kw), holdings, priorities)
        out += [ShedDecision(f"{_COVER_ID}:{party}", party, priorities.get(party, 0),
                             units_to_kw(holdings[party]), units_to_kw(holdings[party] - units))
                for party, units in named.items()]
        if (rest := quantity_units(decision.shed_kw) - sum(named.values())) > 0:
            out.append(ShedDecision(_COVER_ID, operator, decision.priority,
                                    decision.served_kw + units_to_kw(rest), decision.served_kw))
    return out


def _curtailed_by_holders(
    curtailed: list[Curtailment], held: Mapping[str, int], operator: str
) -> list[Curtailment]:
    """A held export the island cannot absorb, named by the parties that sold it, pro rata."""
    out = []
    for cut in curtailed:
        if cut.tender_id != _COVER_ID or cut.party != operator:
            out.append(cut)
            continue
        holdings = {p: -units for p, units in held.items() if units < 0 and p != operator}
        named = _lowest_first(quantity_units(cut.curtailed_kw), holdings, {})
        out += [Curtailment(f"{_COVER_ID}:{party}", party, units_to_kw(holdings[party]),
                            units_to_kw(holdings[party] - units))
                for party, units in named.items()]
        if (rest := quantity_units(cut.curtailed_kw) - sum(named.values())) > 0:
            out.append(Curtailment(_COVER_ID, operator, cut.accepted_kw + units_to_kw(rest),
                                   cut.accepted_kw))
    out.sort(key=lambda cut: cut.tender_id)
    return out


def _curtailments(book: _Book, outcome: AuctionOutcome) -> list[Curtailment]:
    level, _ = outcome.sell_level
    result = []
    for i in sorted(level, key=book.sell_id):
        accepted = outcome.sell_fills.get(i, 0)
        if accepted >= book.sell_qty(i):
            continue
        if i < len(book.sells):
            party = book.sells[i].party
        elif (reporter := book.operator_line.reported_by) is not None:
            party = reporter
        else:
            continue
        result.append(
            Curtailment(
                tender_id=book.sell_id(i),
                party=party,
                offered_kw=units_to_kw(book.sell_qty(i)),
                accepted_kw=units_to_kw(accepted),
            )
        )
    return result
