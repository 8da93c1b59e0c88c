"""Sides and transactive states: the two small enums everything else refers to."""

from __future__ import annotations

import enum

__all__ = ["Side", "TransactiveState"]


class Side(enum.StrEnum):
    """Buy or sell, from the originating party's view."""

    BUY = "BUY"
    SELL = "SELL"

    @property
    def opposite(self) -> Side:
        """The counterparty's side."""
        return Side.SELL if self is Side.BUY else Side.BUY


class TransactiveState(enum.StrEnum):
    """Lifecycle state of a TeMIX payload (kept internally; CTS 1.0 drops it from the wire)."""

    INDICATION_OF_INTEREST = "INDICATION_OF_INTEREST"
    TENDER = "TENDER"
    TRANSACTION = "TRANSACTION"
    EXERCISE = "EXERCISE"
    DELIVERY = "DELIVERY"
    PUBLICATION = "PUBLICATION"
