"""Errors of the TeMIX model, all ``ValueError`` so callers may catch one type.

Tree::

    TemixError(ValueError)
    ├── IntervalError        naive start, non-positive or malformed duration, misaligned
    ├── QuantityError        quantity not positive, not a Decimal, beyond what remains
    ├── PriceError           price not finite or not a Decimal
    ├── TenderExpiredError   acceptance after the tender's expiration time
    ├── AllOrNoneError       partial acceptance of an all-or-none tender
    ├── CounterpartyError    self-dealing, or a directed tender accepted by someone else
    ├── OptionExerciseError  exercise outside the window, too late, too short, too much
    └── UnknownTenderError   a tender id the book does not hold (or no longer holds)
"""

from __future__ import annotations

__all__ = [
    "AllOrNoneError",
    "CounterpartyError",
    "IntervalError",
    "OptionExerciseError",
    "PriceError",
    "QuantityError",
    "TemixError",
    "TenderExpiredError",
    "UnknownTenderError",
]


class TemixError(ValueError):
    """A TeMIX object or operation that breaks a rule of the model."""


class IntervalError(TemixError):
    """An interval or duration is malformed, naive, or not aligned to the market."""


class QuantityError(TemixError):
    """A quantity (rate in kW) is not positive, not exact, or exceeds what remains."""


class PriceError(TemixError):
    """A price is not a finite Decimal."""


class TenderExpiredError(TemixError):
    """A tender was accepted after its expiration time."""


class AllOrNoneError(TemixError):
    """An all-or-none tender was accepted only in part."""


class CounterpartyError(TemixError):
    """The accepting party may not take this tender."""


class OptionExerciseError(TemixError):
    """An option exercise breaks the option's window, lead time, granularity or size."""


class UnknownTenderError(TemixError):
    """A tender id that the tender book does not hold, or that was cancelled."""
