"""The TeMIX information model: the public surface of ``market``.

Import from here; the submodules are an implementation detail::

    from market.temix import Interval, Side, Tender, Transaction, PositionBook, accept

- :mod:`market.interval` — ``Interval`` (tz-aware start + exact duration), ISO 8601
  durations, alignment, local calendar days.
- :mod:`market.quantities` — ``energy_kwh``, ``extended_price`` and their exact forms.
- :mod:`market.model` — sides, transactive states, tenders, transactions, ``accept``.
- :mod:`market.positions` — ``PositionBook``: nested net positions per party.
- :mod:`market.errors` — the ``TemixError(ValueError)`` tree.
"""

from __future__ import annotations

from market.errors import (
    AllOrNoneError,
    CounterpartyError,
    IntervalError,
    OptionExerciseError,
    PriceError,
    QuantityError,
    TemixError,
    TenderExpiredError,
)
from market.interval import Interval, format_duration, is_aligned, local_day, parse_duration
from market.model import Side, Tender, Transaction, TransactiveState, accept
from market.positions import PositionBook
from market.quantities import (
    energy_kwh,
    energy_kwh_exact,
    extended_price,
    extended_price_exact,
    to_cents,
    to_decimal,
)

__all__ = [
    "AllOrNoneError",
    "CounterpartyError",
    "Interval",
    "IntervalError",
    "OptionExerciseError",
    "PositionBook",
    "PriceError",
    "QuantityError",
    "Side",
    "TemixError",
    "Tender",
    "TenderExpiredError",
    "Transaction",
    "TransactiveState",
    "accept",
    "energy_kwh",
    "energy_kwh_exact",
    "extended_price",
    "extended_price_exact",
    "format_duration",
    "is_aligned",
    "local_day",
    "parse_duration",
    "to_cents",
    "to_decimal",
]
