"""Queued requests, their idempotency record, the per-SKU stock ledger and the fencing check.

Every queued request carries a unique id; its outcome is written in the same transaction that
applies it. Re-applying (a retry after a crash) returns the recorded outcome instead of acting twice.

The same table is each SKU's append-only ledger: every entry decided against a SKU's stock gets
the next sequence number of that SKU and the figures (on hand, reserved) after it, written under
the product's row lock in the transaction that made the change. ``replay`` says what each kind of
entry does to the figures, so the audit can recompute every SKU from its first entry.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql.elements import ColumnElement

from shop.domain.errors import StaleFence
from shop.domain.requests import Outcome, OutcomeDict, QueuedRequest, sku_lane
from shop.storage.bulk import BulkInsert
from shop.storage.models import AppliedRequest, Base, Product, SkuFence, utcnow


def insert_ignoring_conflicts(session: Session, model: type[Base], rows: Sequence[dict]) -> None:
    """Insert rows, skipping any whose primary key exists already (SQLite and PostgreSQL)."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    session.execute(module.insert(model).values(list(rows)).on_conflict_do_nothing())


def increment(session: Session, column: InstrumentedAttribute[int], where: ColumnElement[bool]) -> int | None:
    """Add one to ``column`` in the row ``where`` picks, in one UPDATE ... RETURNING; the new value,
    or None if there is no such row. Concurrent callers each get a value of their own."""
    return session.execute(
        update(column.class_)
        .where(where)
        .values({column.key: column + 1})
        .returning(column)
        .execution_options(synchronize_session=False)
    ).scalar()


def claim_fence(session: Session, lane: str, token: int) -> None:
    """Raise the lane's fence to ``token``, or refuse if a newer lease holder has applied since.

    One upsert (SQLite and PostgreSQL alike): a new lane's row is created at ``token``; an existing
    one is raised only if it is not above ``token``, and otherwise no row changes (nor comes back).
    """
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(SkuFence).values(lane=lane, token=token)
    claimed = session.execute(
        statement.on_conflict_do_update(
            index_elements=[SkuFence.lane],
            set_={"token": statement.excluded.token},
            where=SkuFence.token <= token,
        ).returning(SkuFence.token)
    ).first()
    if claimed is None:
        raise StaleFence(lane, token)


def issue_fence(session: Session, lane: str) -> int:
    """Issue the lane's next fencing token from the database (one transaction); return it.

    The token is above every token issued before, whatever Redis forgot in a restart, and the fence
    row is raised with it, so a consumer still holding an older token is refused from now on.
    """
    with session.begin():
        insert_ignoring_conflicts(session, SkuFence, [{"lane": lane, "token": 0}])
        token = increment(session, SkuFence.token, SkuFence.lane == lane)
    if token is None:
        raise RuntimeError(f"the fence row of {lane} could not be created")
    return token


def current_fence(session: Session, lane: str) -> int:
    """Return the highest token that has applied to a lane (0 if none)."""
    token = session.scalar(select(SkuFence.token).where(SkuFence.lane == lane))
    return int(token or 0)


def recorded_outcomes(session: Session, request_ids: Iterable[str]) -> dict[str, OutcomeDict]:
    """Return the outcomes already recorded for any of these requests."""
    ids = list(request_ids)
    found: dict[str, OutcomeDict] = {}
    # Chunk to stay under SQLite's bound-parameter limit.
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = session.execute(
            select(AppliedRequest.request_id, AppliedRequest.outcome).where(
                AppliedRequest.request_id.in_(chunk)
            )
        )
        found.update({rid: json.loads(outcome) for rid, outcome in rows})
    return found


def recorded_seqs(session: Session, request_ids: Iterable[str]) -> dict[str, int]:
    """Return the ledger sequence numbers of these requests (those that have one)."""
    ids = list(request_ids)
    found: dict[str, int] = {}
    for start in range(0, len(ids), 500):
        rows = session.execute(
            select(AppliedRequest.request_id, AppliedRequest.seq).where(
                AppliedRequest.request_id.in_(ids[start : start + 500]), AppliedRequest.seq.is_not(None)
            )
        )
        found.update({rid: int(seq) for rid, seq in rows})
    return found


def record_outcomes(
    session: Session,
    lane: str,
    applied: Sequence[tuple[QueuedRequest, OutcomeDict]],
    now: datetime | None = None,
) -> None:
    """Write the ledger rows for newly applied requests (same transaction as the apply)."""
    when = now or utcnow()
    if not applied:
        return
    session.execute(
        AppliedRequest.__table__.insert(),
        [
            {
                "request_id": request.request_id,
                "lane": lane,
                "ticket": request.ticket,
                "kind": request.kind,
                "outcome": json.dumps(outcome, sort_keys=True),
                "applied_at": when,
            }
            for request, outcome in applied
        ],
    )


@dataclass
class StockEntry:
    """One entry of a SKU's ledger: what was decided, and the SKU's figures right after it."""

    request_id: str
    kind: str
    outcome: OutcomeDict
    seq: int
    on_hand: int
    reserved: int
    ticket: int | None = None
    params: dict[str, Any] = field(default_factory=dict)


def last_seq(session: Session, sku: str) -> int:
    """Return the SKU's last ledger sequence number (0 if none); call it holding the product row lock."""
    return int(session.scalar(select(func.max(AppliedRequest.seq)).where(AppliedRequest.sku == sku)) or 0)


def record_stock_entries(
    session: Session, lane: str, sku: str, entries: Sequence[StockEntry], now: datetime | None = None
) -> None:
    """Append entries to a SKU's ledger (same transaction as the change they record)."""
    if not entries:
        return
    dumps = json.dumps
    rows = [
        (
            e.request_id,
            e.ticket,
            e.kind,
            dumps(_public(e.outcome), sort_keys=True),
            e.seq,
            dumps(e.params, sort_keys=True),
            e.on_hand,
            e.reserved,
        )
        for e in entries
    ]
    _LEDGER_ROWS.execute(session, rows, lane=lane, sku=sku, applied_at=now or utcnow())


# A ledger entry's own values; the lane, SKU and moment are the batch's (bound once).
_LEDGER_ROWS = BulkInsert(
    AppliedRequest.__table__,
    columns=("request_id", "ticket", "kind", "outcome", "seq", "params", "on_hand_after", "reserved_after"),
    constants=("lane", "sku", "applied_at"),
)


def ledger_row(lane: str, sku: str, entry: StockEntry, when: datetime) -> dict[str, Any]:
    """The ``applied_requests`` row of one ledger entry (for set-based writers of many SKUs too)."""
    return {
        "request_id": entry.request_id,
        "lane": lane,
        "ticket": entry.ticket,
        "kind": entry.kind,
        "outcome": json.dumps(_public(entry.outcome), sort_keys=True),
        "applied_at": when,
        "sku": sku,
        "seq": entry.seq,
        "params": json.dumps(entry.params, sort_keys=True),
        "on_hand_after": entry.on_hand,
        "reserved_after": entry.reserved,
    }


def append_stock_entry(
    session: Session,
    lane: str,
    sku: str,
    request_id: str,
    kind: str,
    outcome: OutcomeDict,
    params: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> StockEntry:
    """Append one entry with the product's current figures; the caller has changed (and so locked) the row."""
    on_hand, reserved = session.execute(
        select(Product.on_hand, Product.reserved).where(Product.sku == sku)
    ).one()
    entry = StockEntry(
        request_id=request_id,
        kind=kind,
        outcome=outcome,
        seq=last_seq(session, sku) + 1,
        on_hand=on_hand,
        reserved=reserved,
        params=dict(params or {}),
    )
    record_stock_entries(session, lane, sku, [entry], now)
    return entry


def record_creation(session: Session, sku: str, on_hand: int, now: datetime | None = None) -> None:
    """Open a new product's ledger with the stock it was created with."""
    entry = creation_entry(sku, on_hand, last_seq(session, sku) + 1)
    record_stock_entries(session, sku_lane(sku), sku, [entry], now)


def creation_entry(sku: str, on_hand: int, seq: int = 1) -> StockEntry:
    """The entry that opens a product's ledger (replayed as absolute figures: ``created``)."""
    return StockEntry(
        request_id=f"created-{sku}",
        kind="create_product",
        outcome={"outcome": Outcome.CREATED, "sku": sku, "on_hand": on_hand, "reserved": 0},
        seq=seq,
        on_hand=on_hand,
        reserved=0,
        params={"sku": sku, "on_hand": on_hand},
    )


def _public(outcome: OutcomeDict) -> OutcomeDict:
    """Drop in-memory helpers (keys starting with an underscore) before an outcome is stored."""
    return {k: v for k, v in outcome.items() if not k.startswith("_")}


# What each outcome does to (on_hand, reserved); any other outcome changes nothing.
ABSOLUTE_OUTCOMES = frozenset({Outcome.CREATED, Outcome.OPENING_BALANCE})


def replay(figures: tuple[int, int] | None, outcome: OutcomeDict) -> tuple[int, int] | None:
    """Return a SKU's figures after an entry, from the figures before it (None before the first)."""
    name = outcome.get("outcome")
    if name in ABSOLUTE_OUTCOMES:
        return int(outcome["on_hand"]), int(outcome["reserved"])
    if figures is None:
        return None
    on_hand, reserved = figures
    if name == Outcome.HELD:
        return on_hand, reserved + int(outcome["added"])
    if name == Outcome.RELEASED:
        return on_hand, reserved - int(outcome["released"])
    if name in (Outcome.EXPIRED, Outcome.ORDER_UNITS_RETURNED):
        return on_hand, reserved - int(outcome["qty"])
    if name == Outcome.SOLD:
        # Before revision 0008 (the brief's data model) payment took units off on hand directly.
        return on_hand - int(outcome["qty"]), reserved - int(outcome["qty"])
    if name == Outcome.ALLOCATED:
        return on_hand, reserved - int(outcome["qty"])
    if name == Outcome.RECEIVED:
        return on_hand + int(outcome["qty"]), reserved
    if name == Outcome.SHIPPED:
        return on_hand - int(outcome["qty"]), reserved
    if name == Outcome.STOCK_SET:
        return int(outcome["on_hand"]), reserved
    return on_hand, reserved
