"""Nested market: a sub-market (a floor of agents, a sub-gateway) trading as one agent.

The fractal case. Upward, the nested market gathers its members' tenders for each
interval and sends one curve: member tenders with the same side and price become one
tender of their summed quantity (all-or-none tenders travel alone). Under a uniform
price this curve clears exactly as the members would have cleared in the outer market.
Downward, when the outer market fills one of its tenders it shares the fill among the
member tenders behind it pro rata (the outer market's own marginal rule) and records a
transaction per member with the nested market's party at the outer price — so the
nested party's own money and energy always net to zero, and its members' positions live
in its own :class:`~market.temix.PositionBook`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from market.agents.base import Participant, Positions, Setpoint
from market.auction import pro_rata
from market.clearing import quantity_units, units_to_kw
from market.temix import Interval, PositionBook, Side, Tender, Transaction

__all__ = ["NestedMarket"]


class NestedMarket:
    """A :class:`Participant` made of participants; call :meth:`record` with its fills."""

    def __init__(self, party: str, members: Sequence[Participant], priority: int = 0) -> None:
        self.party = party
        self.priority = priority
        self.members = tuple(members)
        self.book = PositionBook()
        self.transactions: list[Transaction] = []
        self._behind: dict[str, list[Tender]] = {}

    def tenders(
        self, now: datetime, intervals: Sequence[Interval], positions: Positions
    ) -> list[Tender]:
        """One aggregated curve per interval from the members' tenders."""
        groups: dict[tuple[Interval, Side, Decimal, str], list[Tender]] = {}
        for member in self.members:
            held = {iv: self.book.position(member.party, iv) for iv in intervals}
            for t in member.tenders(now, intervals, held):
                alone = t.tender_id if t.all_or_none else ""
                groups.setdefault((t.interval, t.side, t.price, alone), []).append(t)
        self._behind = {}
        out = []
        for (interval, side, at, alone), members in sorted(
            groups.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2], kv[0][3])
        ):
            tender_id = f"{self.party}@{now.isoformat()}/{interval}:{side}:{at}{alone}"
            quantity = sum((t.quantity for t in members), Decimal(0))
            out.append(
                Tender(tender_id, self.party, side, interval, at, quantity, all_or_none=bool(alone))
            )
            self._behind[tender_id] = members
        return out

    def record(self, transactions: Sequence[Transaction]) -> list[Transaction]:
        """Share the outer fills of this round among members; return the member transactions."""
        made: list[Transaction] = []
        for tx in transactions:
            members = self._behind.get(tx.tender_id)
            if members is None or tx.party != self.party:
                continue
            units = [quantity_units(t.quantity) for t in members]
            shares = pro_rata(
                list(range(len(members))),
                units,
                quantity_units(tx.quantity),
                [t.tender_id for t in members].__getitem__,
            )
            for i, share in sorted(shares.items()):
                if share <= 0:
                    continue
                t = members[i]
                member_tx = Transaction(
                    transaction_id=f"{t.tender_id}:tx",
                    tender_id=t.tender_id,
                    party=t.party,
                    counterparty=self.party,
                    side=t.side,
                    interval=t.interval,
                    price=tx.price,
                    quantity=units_to_kw(share),
                    market_id=tx.market_id,
                    executed_at=tx.executed_at,
                )
                self.book.add(member_tx)
                made.append(member_tx)
        self.transactions += made
        return made

    def position(self, member: str, interval: Interval) -> Decimal:
        """A member's position in this sub-market (what its own setpoint follows)."""
        return self.book.position(member, interval)

    def setpoint(self, interval: Interval, position_kw: Decimal) -> Setpoint:
        """Net draw of the whole sub-market at its boundary."""
        return Setpoint(interval, -position_kw)
