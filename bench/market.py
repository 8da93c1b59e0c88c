"""Micromarket benchmark: a full round of 10,000 agents × 24 hourly intervals, and one
interval with 10,000 orders per side. Prints seconds and peak memory; run with
``python -m bench.market`` from the repository root (targets: full round ≤ 1 s, one
interval ≤ 5 ms)."""

from __future__ import annotations

import asyncio
import gc
import random
import resource
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from market.agents import (
    Battery,
    BatteryPreferences,
    BatteryState,
    BoundAgent,
    CriticalLoad,
    CriticalLoadPreferences,
    CurtailableLoad,
    CurtailableLoadPreferences,
    EvCharger,
    EvPreferences,
    EvSession,
    Generator,
    GeneratorPreferences,
    GeneratorState,
    HvacPreferences,
    HvacState,
    HvacZone,
    Participant,
    PriceBand,
    PvArray,
    PvPreferences,
)
from market.clearing import ClearingResult, ExternalTenders, IntervalBook, clear
from market.collector import paused_collection
from market.horizon import HorizonTier, Micromarket, horizon_intervals
from market.temix import Interval, Side, Tender

D = Decimal
NOW = datetime(2026, 6, 1, 0, tzinfo=UTC)
BAND = PriceBand(D(0), D(10))
TIERS = [HorizonTier(timedelta(hours=1), timedelta(hours=24))]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(
    label: str, fn: Callable[[], object], repeat: int = 1, *, paused: bool = False
) -> object:
    gc.collect()
    best = float("inf")
    result: object = None
    for _ in range(repeat):
        with paused_collection() if paused else nullcontext():
            start = time.perf_counter()
            result = fn()
            best = min(best, time.perf_counter() - start)
    print(f"{label:<58} {best * 1000:10.1f} ms   peak RSS {_peak_rss_mb():7.1f} MB")
    return result


def _mix(rng: random.Random, intervals: list[Interval]) -> list[Participant]:
    """A realistic building-campus mix: mostly loads, some PV, storage and generation."""
    price = {iv: D(rng.randint(8, 35)) / 100 for iv in intervals}
    out: list[Participant] = []
    for n in range(10_000):
        kind = n % 20
        party = f"a{n}"
        if kind < 6:
            load = CriticalLoad(party, CriticalLoadPreferences(D(rng.randint(1, 20))), BAND)
            out.append(BoundAgent(load, None, {}))
        elif kind < 10:
            rated = D(rng.randint(1, 12))
            prefs = CurtailableLoadPreferences(rated, D(rng.randint(15, 40)) / 100)
            out.append(BoundAgent(CurtailableLoad(party, prefs, BAND), None, {}))
        elif kind < 13:
            prefs_h = HvacPreferences(D(rng.randint(3, 15)), 22.5, 21.0, 24.0)
            recent = tuple(D(rng.randint(10, 30)) / 100 for _ in range(12))
            state = HvacState(rng.uniform(21.5, 24.5), 0.5, recent)
            out.append(BoundAgent(HvacZone(party, prefs_h, BAND), state, {}))
        elif kind < 15:
            ev = EvCharger(party, EvPreferences(D(11), D("0.30")), BAND)
            session = EvSession(D(rng.randint(5, 60)), NOW + timedelta(hours=rng.randint(4, 24)))
            out.append(BoundAgent(ev, session, price))
        elif kind < 18:
            pv = PvArray(party, PvPreferences(D(rng.randint(5, 60))), BAND)
            shape = {iv: D(max(0, 30 - 3 * abs(iv.start.hour - 12))) for iv in intervals}
            out.append(BoundAgent(pv, None, shape))
        elif kind < 19:
            prefs_b = BatteryPreferences(D(200), D(10), D(190), D(75), D(75), D("0.9"), D(20))
            out.append(BoundAgent(Battery(party, prefs_b, BAND), BatteryState(D(100)), price))
        else:
            prefs_g = GeneratorPreferences(D(40), D(10), D("0.30"), D(8), timedelta(hours=2))
            out.append(BoundAgent(Generator(party, prefs_g, BAND), GeneratorState(False), {}))
    return out


def _setup() -> tuple[list[Interval], list[Participant], ExternalTenders]:
    intervals = horizon_intervals(NOW, TIERS)
    participants = _mix(random.Random(7), intervals)
    return intervals, participants, ExternalTenders(D("0.25"), D("0.05"), D(100_000), D(50_000))


def full_round() -> None:
    """The whole round through the public entry point (best of 3, each on a fresh market),
    then a steady-state round 5 minutes later on the last one."""
    _, participants, grid = _setup()
    best = float("inf")
    for _ in range(3):
        market = Micromarket(tiers=TIERS, band=BAND)
        gc.collect()
        start = time.perf_counter()
        first = market.clear_round(NOW, participants, external=lambda iv: grid)
        best = min(best, time.perf_counter() - start)
    label = "FULL ROUND: tenders → clearing → transactions → positions"
    print(f"{label:<58} {best * 1000:10.1f} ms   peak RSS {_peak_rss_mb():7.1f} MB")
    print(f"{'':<58} {len(first.transactions):10d} transactions")
    later = NOW + timedelta(minutes=5)
    steady = _timed(
        "steady round 5 min later (agents tender differences only)",
        lambda: market.clear_round(later, participants, external=lambda iv: grid),
    )
    assert steady is not None
    print(f"{'':<58} {len(steady.transactions):10d} transactions")  # type: ignore[attr-defined]


def round_breakdown() -> None:
    """The same first round step by step, to show where the time goes (each step with the
    cyclic collector paused, as the round runs)."""
    intervals, participants, grid = _setup()

    def collect() -> dict[Interval, list[Tender]]:
        by_interval: dict[Interval, list[Tender]] = {iv: [] for iv in intervals}
        for p in participants:
            for t in p.tenders(NOW, intervals, {}):
                by_interval[t.interval].append(t)
        return by_interval

    books = _timed("  step: tenders from 10,000 agents × 24 intervals", collect, paused=True)
    assert isinstance(books, dict)
    count = sum(len(b) for b in books.values())
    print(f"{'':<58} {count:10d} tenders")
    results = _timed(
        "  step: clear 24 intervals (price + fills)",
        lambda: [clear(books[iv], iv, external=grid) for iv in intervals],
        paused=True,
    )
    assert isinstance(results, list)
    txs = _timed(
        "  step: build transactions",
        lambda: [t for r in results for t in r.transactions],
        paused=True,
    )
    assert isinstance(txs, list)
    market = Micromarket(tiers=TIERS, band=BAND)

    _timed("  step: book positions", lambda: market.book.add_all(txs), paused=True)


def one_interval() -> None:
    """One interval, 10,000 orders per side: the book filled as tenders arrive (in batches
    of 100, as agents send their curves), then clearing at the gate — the ≤ 5 ms target —
    and, for comparison, ``clear()`` handed the bare tenders (book built inside)."""
    rng = random.Random(11)
    interval = Interval(NOW, timedelta(minutes=5))

    def order(n: int, side: Side) -> Tender:
        return Tender(
            f"{side}-{n}",
            f"p{n}",
            side,
            interval,
            D(rng.randint(0, 500_000)) / 1_000_000,
            D(rng.randint(1, 50_000)) / 1000,
        )

    tenders = [order(n, Side.BUY) for n in range(10_000)]
    tenders += [order(n, Side.SELL) for n in range(10_000)]
    rng.shuffle(tenders)

    def arrive() -> IntervalBook:
        book = IntervalBook(interval)
        for start in range(0, len(tenders), 100):
            book.extend(tenders[start : start + 100])
        return book

    book = _timed("interval: 20,000 tenders arrive in a book (batches of 100)", arrive, 5)
    assert isinstance(book, IntervalBook)
    result = _timed("INTERVAL: clear() at the gate (10,000 orders/side)",
                    lambda: clear(book, interval), 9)
    _timed("interval: clear() from the bare Tender objects", lambda: clear(tenders, interval), 5)
    _timed(
        "interval: clear() at the gate + build transactions",
        lambda: len(clear(book, interval).transactions),
        repeat=3,
    )
    assert isinstance(result, ClearingResult)
    print(f"{'':<58} {len(result.accepted_units):10d} fills")


def loop_lateness() -> None:
    """The gateway clears its round in a worker thread beside the event loop that polls the
    PCC meter every 0.1 s (readings go stale, and islanding alarms, after 0.3 s): how late
    does such a poll run while a 10,000-agent round holds the interpreter?"""
    _, participants, grid = _setup()
    market = Micromarket(tiers=TIERS, band=BAND)

    async def measure() -> tuple[float, list[float]]:
        lateness: list[float] = []
        running = True

        async def poll() -> None:
            due = time.monotonic()
            while running:
                due += 0.1
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                lateness.append(time.monotonic() - due)

        poller = asyncio.create_task(poll())
        await asyncio.sleep(0.3)
        lateness.clear()
        start = time.monotonic()
        await asyncio.to_thread(market.clear_round, NOW, participants, external=lambda iv: grid)
        took = time.monotonic() - start
        running = False
        await poller
        return took, sorted(lateness)

    took, lateness = asyncio.run(measure())
    label = f"0.1 s poll beside a round in a thread ({took:.2f} s)"
    print(f"{label:<58} {lateness[-1] * 1000:10.1f} ms late at most, "
          f"{lateness[len(lateness) // 2] * 1000:.1f} ms median")


if __name__ == "__main__":
    print(f"Python {sys.version.split()[0]}, peak RSS at start {_peak_rss_mb():.1f} MB")
    one_interval()
    full_round()
    round_breakdown()
    loop_lateness()
