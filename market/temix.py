"""The TeMIX information model: the public surface of ``market``.

Import from here; the submodules are an implementation detail::

    from market.temix import Interval, Side, Tender, Transaction, PositionBook, accept

- :mod:`market.interval` — ``Interval`` (tz-aware start + exact elapsed duration), ISO 8601
  durations, alignment to the clock, local calendar days (23/24/25 h).
- :mod:`market.quantities` — ``energy_kwh``, ``extended_price`` (Decimal) and their exact
  ``Fraction`` forms; the exactness rule.
- :mod:`market.model` — tenders, stream tenders, transactions, quotes, deliveries,
  publications, ``accept`` and ``TenderBook``.
- :mod:`market.products` — power, transport and option products.
- :mod:`market.options` — ``OptionExercise`` / ``exercise``.
- :mod:`market.context` — ``Party``, ``MarketContext`` (units, durations, alignment).
- :mod:`market.positions` — ``PositionBook``: nested net positions per party.
- :mod:`market.errors` — the ``TemixError(ValueError)`` tree.
"""

from __future__ import annotations

from market.context import DEFAULT_INTERVAL_DURATIONS, MarketContext, Party
from market.errors import (
    AllOrNoneError,
    CounterpartyError,
    IntervalError,
    OptionExerciseError,
    PriceError,
    QuantityError,
    TemixError,
    TenderExpiredError,
    UnknownTenderError,
)
from market.interval import (
    Interval,
    format_duration,
    instant_us,
    is_aligned,
    local_day,
    parse_duration,
)
from market.model import (
    Delivery,
    Publication,
    Quote,
    StreamInterval,
    StreamTender,
    Tender,
    TenderBook,
    Transaction,
    accept,
)
from market.options import OptionExercise, exercise
from market.positions import PositionBook
from market.products import OptionKind, OptionProduct, PowerProduct, Product, TransportProduct
from market.quantities import (
    energy_kwh,
    energy_kwh_exact,
    extended_price,
    extended_price_exact,
    to_cents,
    to_decimal,
)
from market.sides import Side, TransactiveState

__all__ = [
    "DEFAULT_INTERVAL_DURATIONS",
    "AllOrNoneError",
    "CounterpartyError",
    "Delivery",
    "Interval",
    "IntervalError",
    "MarketContext",
    "OptionExercise",
    "OptionExerciseError",
    "OptionKind",
    "OptionProduct",
    "Party",
    "PositionBook",
    "PowerProduct",
    "PriceError",
    "Product",
    "Publication",
    "QuantityError",
    "Quote",
    "Side",
    "StreamInterval",
    "StreamTender",
    "TemixError",
    "Tender",
    "TenderBook",
    "TenderExpiredError",
    "Transaction",
    "TransactiveState",
    "TransportProduct",
    "UnknownTenderError",
    "accept",
    "energy_kwh",
    "energy_kwh_exact",
    "exercise",
    "extended_price",
    "extended_price_exact",
    "format_duration",
    "instant_us",
    "is_aligned",
    "local_day",
    "parse_duration",
    "to_cents",
    "to_decimal",
]
