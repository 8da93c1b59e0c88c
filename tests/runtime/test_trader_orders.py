"""External orders survive a crash: each is in the ledger before it is sent, so a trader
restarted from the ledger sends an unanswered one again under its id instead of trading
the same difference twice (the counterparty here takes the order but the answer is lost,
as when the gateway is killed while waiting for it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from faultkit import LosesAnswers

from drivers.clock import ManualClock
from gateway.config.loader import load_site
from gateway.ledger import EntryKind, Ledger
from gateway.runtime.trader import Trader, recorded_orders
from hil.counterparty import CtsRefusal, SimulatedCounterparty
from market.cts import decode_transaction
from market.temix import Interval

T0 = datetime(2026, 6, 22, 10, 0, tzinfo=UTC)
HOUR = Interval(T0 + timedelta(hours=3), timedelta(minutes=15))  # a provider tier


class Writer:
    """The gateway's ledger writer without its worker thread (a test has no executor)."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    async def commit(self, entries: Any, at: datetime) -> list[int]:
        return self.ledger.append_round(list(entries), at=at)


@pytest.fixture
def site(repo_root: Path) -> Any:
    return load_site(repo_root / "config" / "examples" / "demo-site.yaml")


async def test_an_unanswered_order_is_resent_after_a_restart_not_traded_again(
    site: Any, tmp_path: Path
) -> None:
    clock = ManualClock(T0)
    provider = SimulatedCounterparty(clock, party_id=site.config.external_market.counterparty_id)
    losing = LosesAnswers(provider)
    await losing.install()
    url = provider.url
    section = site.config.external_market.model_copy(update={"counterparty_url": url})
    party = section.party_id
    ledger = Ledger.open(tmp_path / "ledger.db", tmp_path / "state", [party], at=T0)
    writer = Writer(ledger)

    def trader() -> Trader:
        return Trader(section, site.config.market, clock, site.config.site, writer)

    try:
        async with trader() as before_crash:
            await before_crash.refresh(T0, [HOUR])
            await before_crash.square(T0, {HOUR: Decimal(10)})
            assert list(before_crash.pending) == losing.lost, "taken, but we never heard"
        assert provider.positions.position(party, HOUR) == -10
        losing.losing = False

        entries = ledger.events(None, None, [EntryKind.TRANSACTION, EntryKind.ORDER,
                                             EntryKind.ALARM])
        transactions = [decode_transaction(e.payload) for e in entries
                        if e.kind == EntryKind.TRANSACTION]
        orders, refused = recorded_orders(entries)
        assert [o.transaction.transaction_id for o in orders] == losing.lost
        async with trader() as restarted:
            restarted.restore(transactions, orders, refused)
            assert list(restarted.pending) == losing.lost
            await restarted.refresh(T0 + timedelta(minutes=5), [HOUR])
            assert not restarted.pending, "sent again: 'id already used' proves it was taken"
            assert restarted.contracted_import_kw(HOUR) == 10
            await restarted.square(T0 + timedelta(minutes=5), {HOUR: Decimal(10)})
        assert provider.positions.position(party, HOUR) == -10, "nothing traded twice"
        booked = [decode_transaction(e.payload).transaction_id
                  for e in ledger.events(None, None, [EntryKind.TRANSACTION])]
        assert booked == losing.lost
    finally:
        ledger.close()
        await provider.stop()


async def test_a_refused_order_is_not_pending_after_a_restart(site: Any, tmp_path: Path) -> None:
    clock = ManualClock(T0)
    provider = SimulatedCounterparty(clock, party_id=site.config.external_market.counterparty_id)

    def refuse(request: Any) -> Any:
        raise CtsRefusal(400, "transaction.quantity", "over the limit")

    provider.create_transaction = refuse  # type: ignore[method-assign]
    url = await provider.start()
    section = site.config.external_market.model_copy(update={"counterparty_url": url})
    ledger = Ledger.open(tmp_path / "ledger.db", tmp_path / "state", [section.party_id], at=T0)
    try:
        trader = Trader(section, site.config.market, clock, site.config.site, Writer(ledger))
        async with trader:
            await trader.refresh(T0, [HOUR])
            [refusal] = await trader.square(T0, {HOUR: Decimal(10)})
            assert refusal.status == 400
            assert trader.unsquared == {HOUR}, "not squared outside: settles as imbalance"
        orders, refused = recorded_orders(ledger.events(None, None, None))
        assert len(orders) == 1 and refused == {orders[0].transaction.transaction_id}
        restarted = Trader(section, site.config.market, clock, site.config.site,
                           Writer(ledger))
        restarted.restore([], orders, refused)
        assert not restarted.pending
    finally:
        ledger.close()
        await provider.stop()
