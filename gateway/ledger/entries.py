"""Ledger entries: kinds, canonical JSON, the hash chain and signatures.

An entry's hash is SHA-256 over (one line each, UTF-8)::

    temix-ledger/1
    <seq>
    <time: UTC ISO 8601 with microseconds, e.g. 2026-11-23T12:00:00.000000+00:00>
    <kind>
    <party>
    <previous entry's hash, hex; 64 zeros for entry 1>
    <facts: canonical JSON or empty>
    <payload: canonical JSON>            (last, no trailing newline)

Canonical JSON is ``json.dumps(obj, sort_keys=True, separators=(",", ":"),
ensure_ascii=False, allow_nan=False)``; it never contains a raw newline, and party ids are
checked to contain none, so the preimage is unambiguous.

A signature is Ed25519 by the entry's party over ``b"temix-ledger/1 sig\\n" + hash``. An
entry may carry no signature when a later entry by the same party is signed: that later
signature covers it through the chain (see docs/ledger.md, "Signing per round").

*Facts* are the few structured fields the ledger's own queries need (positions,
settlement statements), written by the ledger beside the caller's payload and hashed
with it, so the indexed copy is tamper-evident too.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from json.encoder import encode_basestring
from typing import Any

from gateway.ledger.errors import LedgerEntryError
from market.cts import encode_transaction
from market.temix import Interval, Side, Transaction

FORMAT_TAG = "temix-ledger/1"
GENESIS_HASH = "0" * 64
_SIGNATURE_CONTEXT = b"temix-ledger/1 sig\n"
_MICROSECOND = timedelta(microseconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class SigningMode(enum.Enum):
    """Who signs what in a round (both verify the same way; see docs/ledger.md).

    ``ROUND``: each party signs its last entry of the round, covering its earlier ones
    through the chain (one Ed25519 signature per party per round). ``ENTRY``: every entry
    carries its own signature (slower: ~30 µs of signing per entry).
    """

    ROUND = "round"
    ENTRY = "entry"


class EntryKind(enum.StrEnum):
    """What an entry records."""

    PARTY_KEY = "party_key"
    TENDER = "tender"
    TRANSACTION = "transaction"
    ORDER = "order"
    """An external order (CTS createTransaction) recorded before it is sent."""
    QUOTE = "quote"
    OPTION_EXERCISE = "option_exercise"
    DELIVERY = "delivery"
    SETTLEMENT = "settlement"
    ISLANDING_EVENT = "islanding_event"
    ALARM = "alarm"
    OPERATOR_COMMAND = "operator_command"


_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)
_quote = encode_basestring


def canonical_json(value: object) -> str:
    """The one text form of a JSON value that the hash is computed over."""
    return _CANONICAL.encode(value)


def utc_text(at: datetime) -> str:
    """Fixed-width UTC ISO 8601 text, so text order is time order."""
    if not isinstance(at, datetime) or at.tzinfo is None or at.utcoffset() is None:
        raise LedgerEntryError(
            f"ledger time must be a timezone-aware datetime (from the gateway Clock), got {at!r}"
        )
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def from_epoch_us(value: int) -> datetime:
    return _EPOCH + value * _MICROSECOND


def check_party(party: str) -> str:
    """Party ids are non-empty single-line text (they are one line of the hash preimage)."""
    if not isinstance(party, str) or not party or not party.isprintable():
        raise LedgerEntryError(
            f"party id must be non-empty printable text without line breaks, got {party!r}"
        )
    return party


def transaction_facts(transaction: Transaction) -> tuple[str, tuple[Any, ...]]:
    """Facts as canonical JSON (formatted directly: hot path) and the subject columns."""
    interval = transaction.interval
    start = interval.start_us
    duration = interval.duration_us
    text = (
        f'{{"counterparty":{_quote(transaction.counterparty)},'
        f'"durationUs":{duration},'
        f'"marketId":{_quote(transaction.market_id)},'
        f'"party":{_quote(transaction.party)},'
        f'"price":{_quote(str(transaction.price))},'
        f'"quantity":{_quote(str(transaction.quantity))},'
        f'"resource":{_quote(transaction.resource)},'
        f'"side":{_quote(str(transaction.side))},'
        f'"startUs":{start},'
        f'"tenderId":{_quote(transaction.tender_id)},'
        f'"transactionId":{_quote(transaction.transaction_id)}}}'
    )
    return text, (transaction.party, transaction.counterparty, start, start + duration)


def transaction_from_facts(facts: Mapping[str, Any]) -> Transaction:
    """Rebuild the :class:`Transaction` recorded by :func:`transaction_facts`."""
    return Transaction(
        transaction_id=facts["transactionId"],
        tender_id=facts["tenderId"],
        party=facts["party"],
        counterparty=facts["counterparty"],
        side=Side(facts["side"]),
        interval=Interval(from_epoch_us(facts["startUs"]), facts["durationUs"] * _MICROSECOND),
        price=Decimal(facts["price"]),
        quantity=Decimal(facts["quantity"]),
        market_id=facts["marketId"],
        resource=facts["resource"],
    )


@dataclass(frozen=True, slots=True)
class Settlement:
    """One settlement line: ``amount`` (currency units, + = paid to ``party``) for ``interval``."""

    party: str
    interval: Interval
    amount: Decimal

    def __post_init__(self) -> None:
        check_party(self.party)
        if not isinstance(self.interval, Interval):
            raise LedgerEntryError(
                f"settlement interval must be an Interval, got {self.interval!r}"
            )
        if not isinstance(self.amount, Decimal) or not self.amount.is_finite():
            raise LedgerEntryError(
                f"settlement amount must be a finite Decimal, got {self.amount!r}"
            )

    def facts(self) -> tuple[str, tuple[Any, ...]]:
        """Facts as canonical JSON and the subject columns."""
        start = self.interval.start_us
        duration = self.interval.duration_us
        text = canonical_json(
            {
                "amount": str(self.amount),
                "durationUs": duration,
                "party": self.party,
                "startUs": start,
            }
        )
        return text, (self.party, None, start, start + duration)


Subject = Transaction | Settlement


def subject_facts(subject: Subject) -> tuple[str, tuple[Any, ...]]:
    """Facts JSON (hashed with the entry) and the subject columns of its row:
    (subject_party, subject_counterparty, start_us, end_us)."""
    if isinstance(subject, Transaction):
        return transaction_facts(subject)
    return subject.facts()


NO_SUBJECT: tuple[Any, ...] = (None, None, None, None)


def subject_columns_from_facts(facts: Mapping[str, Any]) -> tuple[Any, ...]:
    """The subject columns re-derived from hashed facts (what verification compares)."""
    start = facts["startUs"]
    return (facts["party"], facts.get("counterparty"), start, start + facts["durationUs"])


@dataclass(frozen=True, slots=True)
class NewEntry:
    """An entry to append: what it is, who signs it, and the payload dict (CTS encoding).

    ``at`` overrides the round's time for this entry. Transaction and settlement entries
    carry their ``subject`` (build them with :meth:`for_transaction` /
    :meth:`for_settlement`), from which the ledger answers position and statement queries.
    """

    kind: EntryKind
    party: str
    payload: Mapping[str, Any]
    at: datetime | None = None
    subject: Subject | None = None

    @classmethod
    def for_transaction(
        cls, transaction: Transaction, payload: Mapping[str, Any] | None = None, *, party: str
    ) -> NewEntry:
        """A transaction entry signed by ``party`` (e.g. the market operator that cleared it).

        ``payload`` defaults to the transaction's CTS encoding.
        """
        if payload is None:
            payload = encode_transaction(transaction)
        return cls(EntryKind.TRANSACTION, party, payload, subject=transaction)

    @classmethod
    def for_settlement(
        cls, settlement: Settlement, payload: Mapping[str, Any], *, party: str
    ) -> NewEntry:
        """A settlement line signed by ``party`` (who settled it)."""
        return cls(EntryKind.SETTLEMENT, party, payload, subject=settlement)


@dataclass(frozen=True, slots=True)
class Entry:
    """An entry as stored: every field the hash and signature cover, plus both."""

    seq: int
    time: datetime
    kind: str
    party: str
    payload: dict[str, Any]
    facts: dict[str, Any] | None
    prev_hash: str
    hash: str
    signature: str | None


def entry_hash(
    seq: int, time: str, kind: str, party: str, prev_hash: str, facts: str, payload: str
) -> str:
    """Hex SHA-256 of the entry preimage (format in the module docstring)."""
    preimage = f"{FORMAT_TAG}\n{seq}\n{time}\n{kind}\n{party}\n{prev_hash}\n{facts}\n{payload}"
    return hashlib.sha256(preimage.encode("utf-8")).hexdigest()


def signed_message(hash_hex: str) -> bytes:
    """The bytes a party signs for an entry whose hash is ``hash_hex``."""
    return _SIGNATURE_CONTEXT + bytes.fromhex(hash_hex)
