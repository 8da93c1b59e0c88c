"""Exercising options: an option transaction becomes a power or transport transaction.

Rules: the exercised interval lies inside the option's own interval and is no shorter than
the option's granularity; the exercise is made at least the lead time before that interval
starts, and inside the exercise window when the option has one; the rate exercised,
with what was exercised before on the same interval, does not exceed the option's rate.
The holder (the buyer of the option) gets the call's BUY or the put's SELL side at the
strike price; the writer is the counterparty.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from market.errors import OptionExerciseError
from market.interval import Interval, format_duration, instant_us
from market.model import Transaction, check_aware, check_id, check_interval
from market.products import OptionProduct
from market.quantities import check_quantity
from market.sides import Side, TransactiveState

__all__ = ["OptionExercise", "exercise"]


@dataclass(frozen=True, slots=True)
class OptionExercise:
    """A validated exercise of ``option`` (a transaction in an :class:`OptionProduct`)."""

    exercise_id: str
    option: Transaction
    interval: Interval
    quantity: Decimal
    at: datetime
    already_exercised: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        check_id(self.exercise_id, "exercise_id")
        check_interval(self.interval)
        check_aware(self.at, "exercise time")
        what = f"exercise {self.exercise_id}"
        object.__setattr__(self, "quantity", check_quantity(self.quantity, f"quantity of {what}"))
        product = self.product
        option = self.option
        if not option.interval.contains(self.interval):
            raise OptionExerciseError(
                f"{what}: interval {self.interval} lies outside option {option.transaction_id}'s "
                f"interval {option.interval}"
            )
        if self.interval.duration < product.granularity:
            raise OptionExerciseError(
                f"{what}: interval of {format_duration(self.interval.duration)} is shorter than "
                f"the option's granularity {format_duration(product.granularity)}"
            )
        start_utc = self.interval.start.astimezone(UTC)
        deadline = (start_utc - product.exercise_lead_time).astimezone(self.interval.start.tzinfo)
        if instant_us(self.at) > instant_us(deadline):
            raise OptionExerciseError(
                f"{what} at {self.at.isoformat()} is too late: the option needs "
                f"{product.exercise_lead_time} lead time, so exercise by {deadline.isoformat()}"
            )
        window = product.exercise_window
        if window is not None and not window.contains_instant(self.at):
            raise OptionExerciseError(
                f"{what} at {self.at.isoformat()} is outside the exercise window {window}"
            )
        if self.quantity + self.already_exercised > option.quantity:
            raise OptionExerciseError(
                f"{what}: {self.quantity} kW plus {self.already_exercised} kW already exercised "
                f"exceeds the option's {option.quantity} kW"
            )

    @property
    def product(self) -> OptionProduct:
        """The option product of the exercised transaction."""
        product = self.option.product
        if not isinstance(product, OptionProduct):
            raise OptionExerciseError(
                f"transaction {self.option.transaction_id} is not an option (product {product!r})"
            )
        return product

    @property
    def state(self) -> TransactiveState:
        return TransactiveState.EXERCISE

    @property
    def holder(self) -> str:
        """The party that bought the option."""
        option = self.option
        return option.party if option.side is Side.BUY else option.counterparty

    @property
    def writer(self) -> str:
        """The party that sold the option."""
        option = self.option
        return option.counterparty if option.side is Side.BUY else option.party

    def transaction(self) -> Transaction:
        """The transaction this exercise creates: holder vs writer at the strike."""
        product = self.product
        return Transaction(
            transaction_id=self.exercise_id,
            tender_id=self.option.transaction_id,
            party=self.holder,
            counterparty=self.writer,
            side=product.holder_side,
            interval=self.interval,
            price=product.strike_price,
            quantity=self.quantity,
            market_id=self.option.market_id,
            executed_at=self.at,
            product=product.underlying,
        )


def exercise(
    option: Transaction,
    *,
    interval: Interval,
    quantity: Decimal,
    transaction_id: str,
    at: datetime,
    already_exercised: Decimal = Decimal(0),
) -> Transaction:
    """Exercise ``quantity`` kW of ``option`` over ``interval``; return the new transaction."""
    return OptionExercise(
        exercise_id=transaction_id,
        option=option,
        interval=interval,
        quantity=quantity,
        at=at,
        already_exercised=already_exercised,
    ).transaction()
