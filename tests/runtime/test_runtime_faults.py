"""Faults in a running building, through the real protocols on free loopback ports: the
retail provider goes away for an hour, a device is unplugged. The simulated building and
the gateway run together at high speed for a few simulated hours of a clear day."""

from __future__ import annotations

import asyncio
import itertools
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from daykit import Moments, run_day, write_scenario
from sitekit import private_demo_site

from gateway.config import load_site
from gateway.ledger import LedgerReader
from gateway.ledger.entries import EntryKind
from gateway.runtime.app import Gateway, site_path
from gateway.runtime.operator import RoundReport
from hil.counterparty import CtsRefusal
from hil.rig import BuildingRig
from market.cts import decode_transaction

pytestmark = pytest.mark.timeout(120)

# The trader's retry back-off is real time (0.15 s for a request's three attempts): at
# 300x that is 45 clock seconds per unanswered request, which still fits 5-minute rounds.
SPEED = 300.0
STALE = timedelta(minutes=20)
LOST_ANSWERS = 2  # each is resent every round until the return (real-time retries)
DOWN = timedelta(minutes=40)   # the provider stops answering at 10:40 …
BACK = timedelta(hours=1, minutes=40)   # … and is back at 11:40


class AnswersLost:
    """Before the outage the provider takes the first LOST_ANSWERS transactions offered for
    an interval after its return, but the answer never arrives (a 503, to the trader's
    retries too): the trader cannot know they were taken and keeps them pending."""

    def __init__(self, rig: BuildingRig, lose_after: datetime) -> None:
        self.counterparty = rig.counterparty
        self.real = rig.counterparty.create_transaction
        self.lose_after = lose_after
        self.taken_unanswered: list[str] = []
        self.duplicates_refused: list[str] = []
        self.losing = False

    async def install(self) -> None:
        """Restart the provider's HTTP server (same port, same book) with this in front
        of createTransaction: the server binds its handlers when it starts."""
        await self.counterparty.stop()
        self.counterparty.create_transaction = self.create  # type: ignore[method-assign]
        await self.counterparty.start()

    def create(self, request: Any) -> Any:
        tx_id = request.transaction.transaction_id
        lose = self.losing and request.transaction.interval.start > self.lose_after and (
            tx_id in self.taken_unanswered or len(self.taken_unanswered) < LOST_ANSWERS)
        try:
            answer = self.real(request)
        except CtsRefusal as refusal:
            if refusal.status == 409 and refusal.field == "transaction.transactionId":
                if lose:
                    raise CtsRefusal(503, "service", "answer lost") from refusal
                self.duplicates_refused.append(tx_id)
            raise
        if lose:
            self.taken_unanswered.append(tx_id)
            raise CtsRefusal(503, "service", "answer lost")
        return answer


@pytest.fixture(scope="module")
def provider_outage(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder: Path = tmp_path_factory.mktemp("provider-outage")
    site = load_site(private_demo_site(folder, replace={
        "stale_prices_max: 1h": f"stale_prices_max: {int(STALE.total_seconds() // 60)}min",
    }).path)
    scenario = write_scenario(folder, start="2026-06-22T10:00", duration="4h")
    seen: dict[str, Any] = {"usable_down": [], "imports": []}

    async def script(rig: BuildingRig, gateway: Gateway, moments: Moments) -> None:
        operator = gateway.operator
        assert operator is not None

        def on_round(report: RoundReport) -> None:
            result = operator.last_round
            assert result is not None
            seen["imports"].append((report.now, {iv: operator.market.net_import_kw(iv)
                                                 for iv in result.intervals}))

        gateway.on_round = on_round
        lost = AnswersLost(rig, moments.at(BACK + timedelta(minutes=10)))
        seen["lost"] = lost
        await lost.install()
        lost.losing = True
        await moments.until(DOWN)
        await rig.counterparty.stop()
        seen["rounds_at_down"] = len(gateway.status.rounds)
        seen["pending_at_down"] = dict(gateway.trader.pending) if gateway.trader else {}
        while gateway.clock.now() < moments.at(BACK):
            trader = gateway.trader
            assert trader is not None
            seen["usable_down"].append((gateway.clock.now(), trader._usable(),
                                        trader.unreachable_since))
            await asyncio.sleep(0.05)
        seen["rounds_at_back"] = len(gateway.status.rounds)
        seen["pending_at_back"] = dict(gateway.trader.pending) if gateway.trader else {}
        seen["book_at_back"] = list(rig.counterparty.transactions)
        lost.losing = False
        await rig.counterparty.start()

    def after_stop(rig: BuildingRig, gateway: Gateway) -> None:
        seen["rig"] = rig
        seen["gateway"] = gateway
        with LedgerReader(site_path(site, site.config.storage.database)) as ledger:
            seen["ledger"] = ledger.events(None, None)

    asyncio.run(run_day(site, scenario, speed=SPEED, duration=timedelta(hours=2, minutes=30),
                        script=script, after_stop=after_stop))
    return seen


def test_rounds_continue_while_the_provider_is_down(provider_outage: dict[str, Any]) -> None:
    gateway: Gateway = provider_outage["gateway"]
    start = provider_outage["rig"].timeline.start
    down = [r for r in gateway.status.rounds
            if start + DOWN < r.now < start + BACK]
    # a round every 5 minutes; at 300x the trader's real-time retry back-off makes the
    # loop skip a few boundaries (at real speed it is 0.15 s of a 5-minute cadence)
    assert len(down) >= 6
    assert provider_outage["rounds_at_back"] - provider_outage["rounds_at_down"] >= 6
    rounds_in_ledger = [e for e in provider_outage["ledger"] if e.kind == EntryKind.TENDER
                        and start + DOWN < e.time < start + BACK]
    assert rounds_in_ledger, "tenders of the rounds during the outage are in the ledger"


def test_stale_prices_are_used_for_at_most_stale_prices_max(
    provider_outage: dict[str, Any],
) -> None:
    gateway: Gateway = provider_outage["gateway"]
    trader = gateway.trader
    assert trader is not None
    start = provider_outage["rig"].timeline.start
    samples = provider_outage["usable_down"]
    since = {lost for _, _, lost in samples if lost is not None}
    assert len(since) == 1, "unreachable from one moment to the return"
    lost = since.pop()
    assert lost <= start + DOWN + timedelta(minutes=6), "noticed by the next round"
    usable = [at for at, ok, _ in samples if ok and at > lost]
    unusable = [at for at, ok, _ in samples if not ok]
    assert usable, "the last known prices are used for a while"
    assert unusable, "then the building trades as if islanded economically"
    assert max(usable) <= lost + STALE
    assert min(unusable) > lost + STALE
    # islanded economically: after the limit no round assumes more external supply — the
    # building's net import of any interval never grows (only outside trades change it)
    late = [(at, imports) for at, imports in provider_outage["imports"]
            if lost + STALE < at < start + BACK]
    assert len(late) >= 2
    for (_, before), (at, after) in itertools.pairwise(late):
        for interval, kw in after.items():
            if interval in before:
                assert kw <= before[interval], (at, interval, before[interval], kw)
    while_stale = [imports for at, imports in provider_outage["imports"]
                   if lost < at <= lost + STALE]
    assert while_stale, "rounds ran on the last known prices"


def test_pending_transactions_are_resent_with_the_same_ids(
    provider_outage: dict[str, Any],
) -> None:
    lost: AnswersLost = provider_outage["lost"]
    gateway: Gateway = provider_outage["gateway"]
    trader = gateway.trader
    assert trader is not None
    assert lost.taken_unanswered, "some answers were lost before the outage"
    ours = {t.transaction_id for t in trader.transactions}
    start = provider_outage["rig"].timeline.start
    resent = [tx_id for tx_id in lost.taken_unanswered
              if provider_outage["pending_at_back"].get(tx_id) is not None
              and provider_outage["pending_at_back"][tx_id].transaction.interval.start
              > start + BACK]
    assert resent, "a lost answer for a later interval was pending at the return"
    for tx_id in resent:
        assert tx_id in lost.duplicates_refused, f"{tx_id} was not resent"
        assert tx_id in ours, f"{tx_id}: the 409 should prove it was taken"
    assert not trader.pending
    ids = [t.transaction_id for t in provider_outage["rig"].counterparty.transactions]
    assert len(ids) == len(set(ids))


def test_positions_reconcile_after_the_return(provider_outage: dict[str, Any]) -> None:
    gateway: Gateway = provider_outage["gateway"]
    rig: BuildingRig = provider_outage["rig"]
    trader = gateway.trader
    assert trader is not None
    start = rig.timeline.start
    theirs = {t.transaction_id: t for t in rig.counterparty.transactions
              if t.interval.start >= start + BACK}
    ours = {t.transaction_id: t for t in trader.transactions
            if t.interval.start >= start + BACK}
    assert theirs and set(theirs) == set(ours)
    for tx_id, tx in theirs.items():
        assert (tx.quantity, tx.price, tx.side, tx.interval) == (
            ours[tx_id].quantity, ours[tx_id].price, ours[tx_id].side, ours[tx_id].interval)
    for interval in {t.interval for t in theirs.values()}:
        assert rig.counterparty.positions.position(trader.party, interval) == \
            trader.book.position(trader.party, interval), interval
    booked = {decode_transaction(e.payload).transaction_id
              for e in provider_outage["ledger"] if e.kind == EntryKind.TRANSACTION}
    assert set(ours) <= booked


def test_no_interval_is_over_contracted(provider_outage: dict[str, Any]) -> None:
    """Pending orders are not sent again as new orders round after round."""
    gateway: Gateway = provider_outage["gateway"]
    trader = gateway.trader
    assert trader is not None
    limit = gateway.config.site.pcc_import_limit_kw
    for tx in trader.transactions:
        imported = trader.contracted_import_kw(tx.interval)
        assert -gateway.config.site.pcc_export_limit_kw <= imported <= limit


UNPLUG = timedelta(minutes=40)   # hvac_zone_2 stops answering at 10:40 …
PLUG = timedelta(hours=1, minutes=30)   # … and answers again at 11:30
UNPLUGGED = "hvac_zone_2"


@pytest.fixture(scope="module")
def device_unplugged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder: Path = tmp_path_factory.mktemp("device-unplugged")
    site = load_site(private_demo_site(folder).path)
    scenario = write_scenario(folder, start="2026-06-22T10:00", duration="3h")
    seen: dict[str, Any] = {"faults": []}

    async def script(rig: BuildingRig, gateway: Gateway, moments: Moments) -> None:
        await moments.until(UNPLUG)
        rig.state.device(UNPLUGGED).available = False
        while gateway.clock.now() < moments.at(PLUG):
            fault = gateway.poller.fault(UNPLUGGED)
            if fault is not None:
                seen["faults"].append(fault)
            await asyncio.sleep(0.05)
        seen["fault_at_plug"] = gateway.poller.fault(UNPLUGGED)
        rig.state.device(UNPLUGGED).available = True

    def after_stop(rig: BuildingRig, gateway: Gateway) -> None:
        seen["rig"] = rig
        seen["gateway"] = gateway
        seen["fault_at_end"] = gateway.poller.fault(UNPLUGGED)
        with LedgerReader(site_path(site, site.config.storage.database)) as ledger:
            seen["ledger"] = ledger.events(None, None)

    asyncio.run(run_day(site, scenario, speed=300.0, duration=timedelta(hours=2),
                        script=script, after_stop=after_stop))
    return seen


def _tenders_by_party(entries: list[Any], start: Any, end: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for entry in entries:
        if entry.kind == EntryKind.TENDER and start <= entry.time < end:
            counts[entry.party] = counts.get(entry.party, 0) + 1
    return counts


def test_an_unplugged_device_raises_a_fault(device_unplugged: dict[str, Any]) -> None:
    faults = device_unplugged["faults"]
    assert faults, "the poller reports the device"
    assert all(f.device_id == UNPLUGGED for f in faults)
    assert faults[-1].message
    assert device_unplugged["fault_at_end"] is None, "cleared once it answers again"
    alarms = [(e.time, e.payload) for e in device_unplugged["ledger"]
              if e.kind == EntryKind.ALARM and e.payload.get("device") == UNPLUGGED]
    codes = [payload["code"] for _, payload in alarms]
    # The cause depends on which timeout fires first: the driver's or the poller's.
    assert codes[0] in ("DEVICE-POLL_TIMEOUT", "DEVICE-UNREACHABLE", "DEVICE-TIMEOUT"), alarms
    assert codes[1:] == ["DEVICE-RECOVERED"], alarms
    start = device_unplugged["rig"].timeline.start
    assert start + UNPLUG < alarms[0][0] < start + PLUG < alarms[1][0]


def test_an_unplugged_device_stops_tendering_and_the_rest_trades_on(
    device_unplugged: dict[str, Any],
) -> None:
    gateway: Gateway = device_unplugged["gateway"]
    start = device_unplugged["rig"].timeline.start
    first_fault = min(f.since for f in device_unplugged["faults"])
    # the poll timeout and retries are real seconds: at 300x detection takes ~10 minutes
    # of clock time (a few seconds at real speed)
    assert start + UNPLUG < first_fault < start + PLUG - timedelta(minutes=20)
    entries = device_unplugged["ledger"]
    before = _tenders_by_party(entries, start, start + UNPLUG)
    during = _tenders_by_party(entries, first_fault + timedelta(seconds=1), start + PLUG)
    after = _tenders_by_party(entries, start + PLUG + timedelta(minutes=10),
                              start + timedelta(hours=2))
    assert before.get(UNPLUGGED, 0) > 0
    assert UNPLUGGED not in during, during
    assert after.get(UNPLUGGED, 0) > 0, "it trades again once plugged back"
    others = {p for p in before if p != UNPLUGGED}
    assert others and others <= set(during), (others, during)
    rounds = [r for r in gateway.status.rounds if first_fault < r.now < start + PLUG]
    assert len(rounds) >= 3, "rounds go on while the device is away"
    transactions = [e for e in entries if e.kind == EntryKind.TRANSACTION
                    and first_fault + timedelta(seconds=1) <= e.time < start + PLUG]
    parties = {p for e in transactions
               for p in (decode_transaction(e.payload).party,
                         decode_transaction(e.payload).counterparty)}
    assert UNPLUGGED not in parties
    assert len(parties - {UNPLUGGED}) >= 3
