"""The auction's two cores — numpy for large books, plain Python for small ones — give the
same outcome on any book: price, volume, fills in the same order, marginal levels."""

from __future__ import annotations

from array import array

from hypothesis import given, settings
from hypothesis import strategies as st

from market.auction import SideBook, _numpy_core, _python_core

orders = st.lists(
    st.tuples(st.integers(-50, 400), st.integers(0, 60)),  # prices around a 0..300 band
    max_size=40,
)


def _side(rows: list[tuple[int, int]]) -> SideBook:
    return SideBook(array("q", [p for p, _ in rows]), array("q", [q for _, q in rows]))


@settings(max_examples=400, deadline=None)
@given(orders, orders, st.integers(-20, 150), st.integers(0, 160))
def test_both_cores_clear_any_book_alike(buys, sells, floor, width) -> None:
    cap = floor + width
    books = (_side(buys), _side(sells))
    keys = (lambda i: f"b{i:03d}", lambda i: f"s{i:03d}")
    assert _numpy_core(*books, floor, cap, *keys) == _python_core(*books, floor, cap, *keys)
