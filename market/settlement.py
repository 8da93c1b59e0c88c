"""Delivery and settlement of one interval: forward trades plus imbalance at the real-time price.

For each party, over a settlement interval (e.g. 5 minutes):

- **Forward** money: every power transaction whose interval contains the settlement
  interval pays, for this piece, ``price × quantity × hours`` of the piece — a sell
  receives it, a buy pays it (an hourly trade settles one twelfth per 5-minute piece).
  An option's premium settles the same way over the option's interval, without energy;
  an exercised option is an ordinary power transaction at the strike.
- **Scheduled** energy = position × hours; **metered** energy is the delivery, signed as
  positions (positive = injected into the building bus, negative = taken from it).
- **Imbalance** = metered − scheduled, settled at the interval's real-time price: the
  external counterparty's real-time price while grid-connected, or the price of an
  internal real-time clearing of the interval (:func:`market.clearing.clear`) when
  islanded. A party that delivered more than it sold (or took less than it bought) is paid
  for the difference; one that delivered less pays for it.
- A utility that bills its meter (``tariff``: import at one price, export at another)
  settles its imbalance as its bill does: the imbalance money is bill(metered) −
  bill(scheduled), split at zero, so its statement — forward contracts priced the same way
  plus imbalance — totals the bill of what its meter read. The difference to the real-time
  price falls to the operator, as every residual does.
- The **external** party's delivery is the PCC meter (import positive: it injects into the
  building). The **operator** has no meter of its own: its delivery is the balancing
  residual (minus the sum of all others — building losses and unmetered consumption are
  the operator's), so metered energy sums to zero and, since every transaction has two
  sides, money is conserved.
- Amounts are exact until the end; each line and each party's total (the exact sum of
  its lines) are rounded half-even to the cent, and the operator's total is set to minus
  the others' so the statements of an interval sum to exactly zero (the operator absorbs
  the rounding, at most half a cent per party).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import TypeVar

from market.clearing import DEFAULT_OPERATOR
from market.products import OptionProduct
from market.temix import Interval, Side, TemixError, Transaction, to_cents, to_decimal

__all__ = ["MeterTariff", "Settlement", "Statement", "StatementLine", "settle_interval"]

_Amount = TypeVar("_Amount", Decimal, Fraction)


@dataclass(frozen=True, slots=True)
class StatementLine:
    """One money line: a forward trade or the imbalance. ``amount`` > 0: the party receives."""

    kind: str
    reference: str
    energy_kwh: Decimal
    price: Decimal
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Statement:
    """What one party delivered against its position over one interval, and the money."""

    party: str
    interval: Interval
    position_kw: Decimal
    scheduled_kwh: Decimal
    metered_kwh: Decimal
    imbalance_kwh: Decimal
    lines: tuple[StatementLine, ...]
    total: Decimal


@dataclass(frozen=True, slots=True)
class MeterTariff:
    """How ``party`` (a utility) bills its meter for one interval: energy it delivered
    (the building's import) at ``import_price``, energy it took (the export) at
    ``export_price``, both per kWh."""

    party: str
    import_price: Decimal
    export_price: Decimal

    def changes(self, before: _Amount, after: _Amount) -> list[tuple[str, _Amount, Decimal]]:
        """A move of the delivered amount from ``before`` to ``after`` as the bill prices
        it: ``("import", change, import_price)`` for the part above zero and
        ``("export", change, export_price)`` for the part below, each left out when nil."""
        zero = after - after
        pieces = (
            ("import", max(after, zero) - max(before, zero), self.import_price),
            ("export", min(after, zero) - min(before, zero), self.export_price),
        )
        return [piece for piece in pieces if piece[1]]


@dataclass(frozen=True, slots=True)
class Settlement:
    """Statements of every party for one interval; their totals sum to zero."""

    interval: Interval
    realtime_price: Decimal
    statements: Mapping[str, Statement]

    @property
    def total(self) -> Decimal:
        return sum((s.total for s in self.statements.values()), Decimal(0))


def _signed(transaction: Transaction, party: str) -> int:
    return 1 if transaction.side_of(party) is Side.SELL else -1


def settle_interval(
    interval: Interval,
    transactions: Iterable[Transaction],
    metered_kwh: Mapping[str, Decimal],
    realtime_price: Decimal,
    *,
    operator: str = DEFAULT_OPERATOR,
    tariff: MeterTariff | None = None,
) -> Settlement:
    """Settle ``interval``: statements per party (rules in the module docstring).

    ``transactions``: the market's transactions; those not covering ``interval`` are
    ignored. Option transactions add a ``premium`` line (premium × rate × hours of this
    piece) and no energy. ``metered_kwh``: delivery per party including the external
    party's PCC meter, but not the operator's (it is the residual). ``tariff``: the
    external party's imbalance is priced by its bill instead of ``realtime_price``.
    """
    if operator in metered_kwh:
        raise TemixError(
            f"the market operator {operator!r} has no meter: its delivery is the residual of "
            "the others; leave it out of metered_kwh"
        )
    hours = interval.hours
    forward: dict[str, list[tuple[Transaction, int, Fraction]]] = {}
    position: dict[str, Fraction] = {}
    for tx in transactions:
        if not tx.interval.contains(interval):
            continue
        is_option = isinstance(tx.product, OptionProduct)
        for party in (tx.party, tx.counterparty):
            sign = _signed(tx, party)
            money = Fraction(tx.price) * Fraction(tx.quantity) * hours * sign
            forward.setdefault(party, []).append((tx, 0 if is_option else sign, money))
            if not is_option:
                position[party] = position.get(party, Fraction(0)) + sign * Fraction(tx.quantity)
    metered = {p: Fraction(e) for p, e in metered_kwh.items()}
    metered[operator] = -sum(metered.values(), Fraction(0))
    rt = Fraction(realtime_price)
    parties = sorted(set(forward) | set(metered) | set(position))
    statements = {
        p: _statement(
            p,
            interval,
            position.get(p, Fraction(0)),
            metered.get(p, Fraction(0)),
            forward.get(p, []),
            rt,
            realtime_price,
            tariff if tariff is not None and tariff.party == p else None,
        )
        for p in parties
    }
    others = sum((s.total for p, s in statements.items() if p != operator), Decimal(0))
    own = statements[operator]
    statements[operator] = Statement(
        own.party,
        own.interval,
        own.position_kw,
        own.scheduled_kwh,
        own.metered_kwh,
        own.imbalance_kwh,
        own.lines,
        -others,
    )
    return Settlement(interval, realtime_price, statements)


def _statement(
    party: str,
    interval: Interval,
    position_kw: Fraction,
    metered: Fraction,
    forward: list[tuple[Transaction, int, Fraction]],
    rt: Fraction,
    realtime_price: Decimal,
    tariff: MeterTariff | None,
) -> Statement:
    scheduled = position_kw * interval.hours
    imbalance = metered - scheduled
    lines = [
        StatementLine(
            "forward" if sign else "premium",
            tx.transaction_id,
            to_decimal(Fraction(tx.quantity) * interval.hours * sign),
            tx.price,
            to_cents(money),
        )
        for tx, sign, money in forward
    ]
    imbalance_lines = _imbalance(scheduled, metered, rt, realtime_price, tariff)
    lines += [StatementLine("imbalance", party, to_decimal(energy), price, to_cents(money))
              for energy, price, money in imbalance_lines]
    exact_total = sum((money for _, _, money in forward), Fraction(0))
    exact_total += sum((money for _, _, money in imbalance_lines), Fraction(0))
    return Statement(
        party=party,
        interval=interval,
        position_kw=to_decimal(position_kw),
        scheduled_kwh=to_decimal(scheduled),
        metered_kwh=to_decimal(metered),
        imbalance_kwh=to_decimal(imbalance),
        lines=tuple(lines),
        total=to_cents(exact_total),
    )


def _imbalance(
    scheduled: Fraction,
    metered: Fraction,
    rt: Fraction,
    realtime_price: Decimal,
    tariff: MeterTariff | None,
) -> list[tuple[Fraction, Decimal, Fraction]]:
    """(energy, price, money) of the imbalance: one piece at the real-time price, or, for a
    utility's meter, the pieces its bill prices on each side of zero."""
    if metered == scheduled:
        return []
    if tariff is None:
        return [(metered - scheduled, realtime_price, (metered - scheduled) * rt)]
    return [(energy, price, energy * Fraction(price))
            for _, energy, price in tariff.changes(scheduled, metered)]
