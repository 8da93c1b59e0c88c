"""Any JSON payload goes in and comes back out unchanged, and the ledger still verifies."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ledger_kit import T0, open_ledger

from gateway.ledger import EntryKind, Ledger, LedgerReader, NewEntry, verify_ledger

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(exclude_categories=["Cs"]), max_size=20)
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_PAYLOADS = st.dictionaries(st.text(max_size=8), _JSON, max_size=5)


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    with open_ledger(tmp_path_factory.mktemp("payloads")) as opened:
        yield opened


@settings(max_examples=40, deadline=None)
@given(payloads=st.lists(_PAYLOADS, min_size=1, max_size=5))
def test_payloads_round_trip_and_verify(ledger: Ledger, payloads: list[dict[str, Any]]) -> None:
    seqs = ledger.append_round(
        [NewEntry(EntryKind.DELIVERY, "battery", payload) for payload in payloads], at=T0
    )
    with LedgerReader(ledger.path) as reader:
        stored = {entry.seq: entry.payload for entry in reader.events(None, None)}
    assert [stored[seq] for seq in seqs] == payloads
    assert verify_ledger(ledger.path).ok
