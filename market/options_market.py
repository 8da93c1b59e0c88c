"""Options in the micromarket: storage writes call options on its capacity for the operator.

A call option here is the operator's right to buy up to ``quantity`` kW from the writer
(a battery) over any piece of the option's interval at the strike price, noticed at least
the lead time ahead. Lifecycle, using :mod:`market.temix` / :mod:`market.options`:

1. The writer tenders the option: a SELL :class:`~market.temix.Tender` whose product is
   an :class:`~market.products.OptionProduct` and whose price is the premium per kWh
   (:func:`call_option_tender`).
2. The operator buys it (:meth:`OptionBook.buy`): an option transaction; the premium
   (premium × rate × hours) settles with the interval like any trade
   (:func:`market.settlement.settle_interval` adds a ``premium`` line).
3. The operator may exercise it (:meth:`OptionBook.exercise`): a power transaction at the
   strike, operator BUY / writer SELL, which goes into the market's position book — the
   writer's position rises and its setpoint delivers it.
4. Until exercised, the writer must keep the capacity: :meth:`OptionBook.unexercised_kw`
   is what a battery passes in ``BatteryState.written_calls_kw`` so it never plans that
   energy away.

Option transactions never enter the power :class:`~market.temix.PositionBook`; only
their exercises do.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from market.clearing import DEFAULT_OPERATOR
from market.options import exercise
from market.products import OptionKind, OptionProduct, PowerProduct
from market.temix import (
    Interval,
    OptionExerciseError,
    Side,
    TemixError,
    Tender,
    Transaction,
    accept,
    extended_price,
)

__all__ = ["OptionBook", "call_option_tender"]


def call_option_tender(
    *,
    tender_id: str,
    writer: str,
    interval: Interval,
    quantity_kw: Decimal,
    strike_price: Decimal,
    premium: Decimal,
    exercise_lead_time: timedelta,
    granularity: timedelta,
    node: str = "building",
    expires: datetime | None = None,
) -> Tender:
    """The writer's offer of a call on ``quantity_kw`` over ``interval`` (price = premium)."""
    product = OptionProduct(
        kind=OptionKind.CALL,
        underlying=PowerProduct(node),
        strike_price=strike_price,
        premium=premium,
        exercise_lead_time=exercise_lead_time,
        granularity=granularity,
    )
    return Tender(
        tender_id=tender_id,
        party=writer,
        side=Side.SELL,
        interval=interval,
        price=premium,
        quantity=quantity_kw,
        expires=expires,
        product=product,
    )


class OptionBook:
    """The operator's options: bought, exercised, and what each writer must still hold."""

    def __init__(self, operator: str = DEFAULT_OPERATOR) -> None:
        self.operator = operator
        self.options: dict[str, Transaction] = {}
        self.exercises: dict[str, list[Transaction]] = {}

    def buy(self, tender: Tender, *, transaction_id: str, at: datetime) -> Transaction:
        """Accept a written call option in full; returns the option transaction."""
        if not isinstance(tender.product, OptionProduct) or tender.side is not Side.SELL:
            raise TemixError(
                f"tender {tender.tender_id} of {tender.party} is not an option offered for sale"
            )
        option = accept(
            tender,
            quantity=tender.quantity,
            counterparty=self.operator,
            transaction_id=transaction_id,
            at=at,
        )
        self.options[transaction_id] = option
        self.exercises[transaction_id] = []
        return option

    def premium(self, option_id: str) -> Decimal:
        """Premium of a bought option: premium × rate × hours of its interval."""
        option = self._option(option_id)
        return extended_price(option.price, option.quantity, option.interval)

    def _option(self, option_id: str) -> Transaction:
        try:
            return self.options[option_id]
        except KeyError:
            raise OptionExerciseError(f"the operator holds no option {option_id!r}") from None

    def _exercised_kw(self, option_id: str, interval: Interval) -> Decimal:
        return sum(
            (e.quantity for e in self.exercises[option_id] if e.interval.overlaps(interval)),
            Decimal(0),
        )

    def exercise(
        self,
        option_id: str,
        *,
        interval: Interval,
        quantity_kw: Decimal,
        transaction_id: str,
        at: datetime,
    ) -> Transaction:
        """Exercise part of an option: a power transaction at the strike (operator buys)."""
        tx = exercise(
            self._option(option_id),
            interval=interval,
            quantity=quantity_kw,
            transaction_id=transaction_id,
            at=at,
            already_exercised=self._exercised_kw(option_id, interval),
        )
        self.exercises[option_id].append(tx)
        return tx

    def unexercised_kw(self, writer: str, interval: Interval) -> Decimal:
        """Capacity ``writer`` must still hold on ``interval`` for options not yet exercised."""
        total = Decimal(0)
        for option_id, option in self.options.items():
            writes = option.party == writer and option.side is Side.SELL
            if writes and option.interval.overlaps(interval):
                total += option.quantity - self._exercised_kw(option_id, interval)
        return total
