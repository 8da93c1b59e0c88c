"""Properties of clearing over random books, checked against a naive unit-by-unit walk."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from market_builders import HOUR, tender

from market.clearing import ClearingResult, ExternalTenders, IntervalBook, clear
from market.temix import Side, Tender

FLOOR = Decimal("0")
CAP = Decimal("2")

prices = st.integers(min_value=0, max_value=300).map(lambda c: Decimal(c).scaleb(-2))
quantities = st.integers(min_value=1, max_value=50_000).map(lambda m: Decimal(m).scaleb(-3))


Book = tuple[list[Tender], ExternalTenders | None, dict[str, int], Decimal]


@st.composite
def books(draw: st.DrawFn) -> Book:
    """Tenders, the grid's standing tenders, priorities, and the net import already held
    (which only matters islanded: the operator then covers it inside)."""
    count = draw(st.integers(min_value=0, max_value=25))
    tenders = []
    for n in range(count):
        side = draw(st.sampled_from([Side.BUY, Side.SELL]))
        party = f"p{draw(st.integers(min_value=0, max_value=8))}"
        all_or_none = n % 4 == 3 and draw(st.booleans())
        tenders.append(
            tender(
                f"t{n}", side, draw(prices), draw(quantities), party=party, all_or_none=all_or_none
            )
        )
    external = None
    if draw(st.booleans()):
        export_c = draw(st.integers(min_value=0, max_value=150))
        import_c = draw(st.integers(min_value=export_c + 1, max_value=250))
        external = ExternalTenders(
            import_price=Decimal(import_c).scaleb(-2),
            export_price=Decimal(export_c).scaleb(-2),
            import_limit_kw=draw(st.integers(0, 100).map(Decimal)),
            export_limit_kw=draw(st.integers(0, 100).map(Decimal)),
        )
    priorities = {f"p{i}": draw(st.integers(min_value=0, max_value=3)) for i in range(9)}
    held = draw(st.integers(-60_000, 60_000).map(lambda m: Decimal(m).scaleb(-3)))
    return tenders, external, priorities, held


def _clamped(t: Tender) -> Decimal:
    return min(t.price, CAP) if t.side is Side.BUY else max(t.price, FLOOR)


def _accepted(result: ClearingResult) -> dict[str, Decimal]:
    return {f.tender.tender_id: f.quantity_kw for f in result.fills}


def _naive_volume(
    tenders: list[Tender], external: ExternalTenders | None, held: Decimal | None
) -> Decimal:
    """Match the best remaining buy with the best remaining sell, one step at a time.
    ``held``: islanded, the held net import the operator buys at the cap (a held export:
    sells at the floor)."""
    buys = [[min(t.price, CAP), t.quantity] for t in tenders if t.side is Side.BUY]
    sells = [[max(t.price, FLOOR), t.quantity] for t in tenders if t.side is Side.SELL]
    if external is not None:
        buys.append([external.export_price, external.export_limit_kw])
        sells.append([external.import_price, external.import_limit_kw])
    if held is not None:
        buys.append([CAP, max(held, Decimal(0))])
        sells.append([FLOOR, max(-held, Decimal(0))])
    buys = sorted((b for b in buys if b[0] >= FLOOR and b[1] > 0), key=lambda b: -b[0])
    sells = sorted((s for s in sells if s[0] <= CAP and s[1] > 0), key=lambda s: s[0])
    volume = Decimal(0)
    while buys and sells and buys[0][0] >= sells[0][0]:
        step = min(buys[0][1], sells[0][1])
        volume += step
        buys[0][1] -= step
        sells[0][1] -= step
        buys = [b for b in buys if b[1] > 0]
        sells = [s for s in sells if s[1] > 0]
    return volume


def _run(book: Book, islanded: bool) -> ClearingResult:
    tenders, external, priorities, held = book
    return clear(
        tenders,
        HOUR,
        external=external,
        islanded=islanded,
        price_floor=FLOOR,
        price_cap=CAP,
        priorities=priorities,
        held_import_kw=held,
    )


@settings(max_examples=300, deadline=None)
@given(books(), st.booleans())
def test_clearing_respects_prices_balances_and_trades_the_most(book, islanded: bool) -> None:
    tenders, external, _, held = book
    result = _run(book, islanded)
    accepted = _accepted(result)
    by_id = {t.tender_id: t for t in tenders}
    assert FLOOR <= result.price <= CAP
    for tender_id, quantity in accepted.items():
        t = by_id[tender_id]
        assert 0 < quantity <= t.quantity
        assert quantity == t.quantity or not t.all_or_none, "all-or-none never split"
        if t.side is Side.BUY:
            assert t.price >= result.price, "no accepted buy above its price"
        else:
            assert t.price <= result.price, "no accepted sell below its price"
    for t in tenders:
        filled = accepted.get(t.tender_id, Decimal(0))
        if t.all_or_none:
            continue
        if t.side is Side.BUY and _clamped(t) > result.price:
            assert filled == t.quantity, "a buy above the price is filled in full"
        if t.side is Side.SELL and _clamped(t) < result.price:
            assert filled == t.quantity, "a sell below the price is filled in full"
    bought = sum((q for i, q in accepted.items() if by_id[i].side is Side.BUY), Decimal(0))
    sold = sum((q for i, q in accepted.items() if by_id[i].side is Side.SELL), Decimal(0))
    cover = result.island_cover_kw
    assert bought + result.export_kw + cover == sold + result.import_kw
    if islanded:
        assert result.import_kw == result.export_kw == 0
        assert 0 <= cover <= held or held <= cover <= 0, "the cover never exceeds the held"
    else:
        assert cover == 0
    if not any(t.all_or_none for t in tenders):
        volume = bought + result.export_kw + max(cover, Decimal(0))
        naive = _naive_volume(tenders, None, held) if islanded else _naive_volume(
            tenders, external, None)
        assert volume == naive


@settings(max_examples=300, deadline=None)
@given(books())
def test_rationing_never_sheds_a_higher_priority_before_a_lower_one(book) -> None:
    tenders, _, priorities, _ = book
    result = _run(book, islanded=True)
    accepted = _accepted(result)
    by_id = {t.tender_id: t for t in tenders}
    # the operator's cover of the held import is served before any agent's new demand
    shed_priorities = [
        d.priority
        for d in result.shed
        if d.shed_kw > 0 and (d.tender_id not in by_id or not by_id[d.tender_id].all_or_none)
    ]
    if not shed_priorities:
        return
    assert result.price == CAP
    highest_shed = max(shed_priorities)
    for t in tenders:
        lower = priorities[t.party] < highest_shed
        if t.side is Side.BUY and t.price >= CAP and lower and not t.all_or_none:
            assert t.tender_id not in accepted, f"{t.tender_id} served before a higher priority"
    for d in result.shed:
        if d.tender_id in by_id:
            assert d.served_kw == accepted.get(d.tender_id, Decimal(0))
        else:
            assert d.party == "market-operator" and d.served_kw == result.island_cover_kw
            assert d.priority > max(priorities.values())


@settings(max_examples=100, deadline=None)
@given(books(), st.booleans(), st.randoms(use_true_random=False))
def test_result_does_not_depend_on_the_order_of_the_tenders(book, islanded, rnd) -> None:
    tenders, external, priorities, held = book
    shuffled = list(tenders)
    rnd.shuffle(shuffled)
    first = _run(book, islanded)
    second = _run((shuffled, external, priorities, held), islanded)
    assert first.price == second.price
    assert _accepted(first) == _accepted(second)
    assert first.shed == second.shed and first.curtailed == second.curtailed
    assert first.island_cover_kw == second.island_cover_kw


@settings(max_examples=100, deadline=None)
@given(books(), st.booleans(), st.lists(st.integers(min_value=1, max_value=6), max_size=8))
def test_a_book_filled_in_batches_clears_as_the_bare_tenders_do(book, islanded, cuts) -> None:
    tenders, external, priorities, held = book
    interval_book = IntervalBook(HOUR)
    start = 0
    for size in [*cuts, len(tenders)]:
        interval_book.extend(tenders[start : start + size])
        start += size
    bare = _run(book, islanded)
    booked = _run((interval_book, external, priorities, held), islanded)  # type: ignore[arg-type]
    assert booked.price == bare.price
    assert booked.transactions == bare.transactions
    assert (booked.shed, booked.curtailed) == (bare.shed, bare.curtailed)
    assert (booked.import_kw, booked.export_kw) == (bare.import_kw, bare.export_kw)


@settings(max_examples=300, deadline=None)
@given(books(), st.dictionaries(st.sampled_from([f"p{i}" for i in range(10)]),
                                st.integers(-30_000, 30_000).map(lambda m: Decimal(m).scaleb(-3)),
                                max_size=10))
def test_the_cover_shortfall_falls_on_what_holders_still_hold_least_important_first(
        book, held_by: dict[str, Decimal]) -> None:
    tenders, external, priorities, held = book
    named = clear(tenders, HOUR, external=external, islanded=True, price_floor=FLOOR,
                  price_cap=CAP, priorities=priorities, held_import_kw=held, held_by=held_by)
    plain = _run(book, islanded=True)
    assert (named.price, _accepted(named), named.island_cover_kw) == (
        plain.price, _accepted(plain), plain.island_cover_kw), "naming changes no trade"

    def cover(items: tuple, attribute: str) -> Decimal:
        return sum((getattr(x, attribute) for x in items
                    if x.tender_id.startswith("island-cover")), Decimal(0))

    assert cover(named.shed, "shed_kw") == cover(plain.shed, "shed_kw")
    assert cover(named.curtailed, "curtailed_kw") == cover(plain.curtailed, "curtailed_kw")
    after = dict(held_by)
    by_id = {t.tender_id: t for t in tenders}
    for tender_id, quantity in _accepted(named).items():
        t = by_id[tender_id]
        sign = 1 if t.side is Side.BUY else -1
        after[t.party] = after.get(t.party, Decimal(0)) + sign * quantity
    shed = {d.party: d for d in named.shed if d.tender_id.startswith("island-cover:")}
    for party, d in shed.items():
        assert d.requested_kw == after[party] and 0 < d.shed_kw <= after[party]
    if shed:
        top = max(priorities.get(p, 0) for p in shed)
        for party, holding in after.items():
            if holding > 0 and priorities.get(party, 0) < top:
                assert party in shed and shed[party].served_kw == 0, f"{party} before a higher"
    for c in named.curtailed:
        if c.tender_id.startswith("island-cover:"):
            assert c.offered_kw == -after[c.party] and 0 < c.curtailed_kw <= c.offered_kw
