"""The integrity audit: proves from the database alone that no unit was oversold or lost.

Besides the invariants over holds, orders and payments, it replays every SKU's ledger: entries
numbered 1, 2, 3, ... without a gap, each one's figures following from the one before by what the
entry says happened, and the last one's figures equal to the product's. And it recomputes every
sale's pre-queue draw from its recorded seed: the pre-queued requests must have been applied in
exactly the order the seed gives.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from shop.domain.draw import shuffled
from shop.domain.ledger import replay
from shop.domain.stock_audit import ALLOCATING, RESERVING, check_locations
from shop.storage.models import (
    AppliedRequest,
    Hold,
    HoldStatus,
    Order,
    OrderLine,
    OrderStatus,
    Payment,
    PaymentStatus,
    Product,
)

# Which hold statuses each order status allows (a paid order's holds are allocated by their lanes).
HOLD_STATUS_FOR_ORDER = {
    OrderStatus.PENDING_PAYMENT: {HoldStatus.ORDERED},
    OrderStatus.PAID: {HoldStatus.PAID, HoldStatus.SOLD, HoldStatus.SHIPPED},
    OrderStatus.SHIPPED: {HoldStatus.SHIPPED},
    OrderStatus.EXPIRED: {HoldStatus.EXPIRED},
    OrderStatus.CANCELLED: {HoldStatus.EXPIRED, HoldStatus.RELEASED},
}


@dataclass
class AuditReport:
    products: int = 0
    locations: int = 0
    holds: int = 0
    orders: int = 0
    ledger_entries: int = 0
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": {
                "products": self.products,
                "locations": self.locations,
                "holds": self.holds,
                "orders": self.orders,
                "ledger_entries": self.ledger_entries,
            },
            "violations": self.violations,
        }


def audit(session: Session) -> AuditReport:
    """Check every stock invariant over the whole database, in one consistent snapshot."""
    report = AuditReport()
    with session.begin():
        _read_one_snapshot(session)
        _check_products(session, report)
        report.locations = check_locations(session, report.violations)
        _check_holds(session, report)
        _check_orders(session, report)
        _check_payments(session, report)
        _check_ledgers(session, report)
        _check_draws(session, report)
    return report


def _read_one_snapshot(session: Session) -> None:
    """Make every statement of this transaction read the same snapshot.

    PostgreSQL's default (READ COMMITTED) gives each statement a snapshot of its own, so a batch that
    commits between two checks would look like a mismatch; REPEATABLE READ reads one snapshot for the
    whole transaction. SQLite's read transaction (BEGIN, WAL) already reads one.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


def _check_products(session: Session, report: AuditReport) -> None:
    held = (
        select(Hold.sku, func.sum(Hold.qty).label("qty"))
        .where(Hold.status.in_(RESERVING))
        .group_by(Hold.sku)
        .subquery()
    )
    sold = (
        select(Hold.sku, func.sum(Hold.qty).label("qty"))
        .where(Hold.status.in_([*ALLOCATING, HoldStatus.SHIPPED]))
        .group_by(Hold.sku)
        .subquery()
    )
    rows = session.execute(
        select(Product.sku, Product.on_hand, Product.reserved, Product.sales, held.c.qty, sold.c.qty)
        .outerjoin(held, held.c.sku == Product.sku)
        .outerjoin(sold, sold.c.sku == Product.sku)
    ).all()
    for sku, on_hand, reserved, sales, held_qty, sold_qty in rows:
        report.products += 1
        if not 0 <= reserved <= on_hand:
            report.violations.append(f"{sku}: reserved {reserved} outside 0..on_hand {on_hand}")
        if reserved != (held_qty or 0):
            report.violations.append(
                f"{sku}: reserved {reserved} but active, ordered and paid holds total {held_qty or 0}"
            )
        if sales < (sold_qty or 0):
            report.violations.append(f"{sku}: sales {sales} below sold holds {sold_qty}")


def _check_holds(session: Session, report: AuditReport) -> None:
    report.holds = session.scalar(select(func.count()).select_from(Hold)) or 0
    unledgered = session.scalar(
        select(func.count())
        .select_from(Hold)
        .outerjoin(AppliedRequest, AppliedRequest.request_id == Hold.request_id)
        .where(AppliedRequest.request_id.is_(None))
    )
    if unledgered:
        report.violations.append(f"{unledgered} holds were created by no recorded request")
    orphan_orders = session.scalar(
        select(func.count())
        .select_from(Hold)
        .where(Hold.status.in_([HoldStatus.ORDERED, HoldStatus.SOLD]), Hold.order_id.is_(None))
    )
    if orphan_orders:
        report.violations.append(f"{orphan_orders} ordered or sold holds belong to no order")
    doubled = session.execute(
        select(Hold.cart_id, Hold.sku, func.count())
        .where(Hold.status == HoldStatus.ACTIVE)
        .group_by(Hold.cart_id, Hold.sku)
        .having(func.count() > 1)
    ).all()
    for cart_id, sku, count in doubled:
        report.violations.append(f"cart {cart_id[:8]}… has {count} active holds on {sku}")


def _check_orders(session: Session, report: AuditReport) -> None:
    report.orders = session.scalar(select(func.count()).select_from(Order)) or 0
    rows = session.execute(
        select(Order.id, Order.status, Order.total, Hold.status, Hold.qty, OrderLine.qty, OrderLine.net_amt)
        .join(OrderLine, OrderLine.order_id == Order.id)
        .join(Hold, and_(Hold.id == OrderLine.hold_id, Hold.order_id == Order.id), isouter=True)
    ).all()
    totals: dict[str, tuple[int, int]] = {}
    for order_id, status, total, hold_status, hold_qty, line_qty, net_amt in rows:
        expected = HOLD_STATUS_FOR_ORDER.get(OrderStatus(status), set())
        if hold_status is None:
            report.violations.append(f"order {order_id}: a line's hold is missing or belongs elsewhere")
        elif hold_status not in expected:
            report.violations.append(f"order {order_id} is {status} but a hold is {hold_status}")
        if hold_qty is not None and hold_qty != line_qty:
            report.violations.append(f"order {order_id}: line qty {line_qty} differs from hold {hold_qty}")
        seen = totals.get(order_id, (total, 0))
        totals[order_id] = (total, seen[1] + net_amt)
    for order_id, (total, summed) in totals.items():
        if total != summed:
            report.violations.append(f"order {order_id}: total {total} differs from its lines {summed}")


def _check_payments(session: Session, report: AuditReport) -> None:
    paid = session.execute(
        select(Order.id, Order.status, Order.total, func.count(Payment.id), func.sum(Payment.amount))
        .outerjoin(Payment, and_(Payment.order_id == Order.id, Payment.status == PaymentStatus.PAID))
        .group_by(Order.id, Order.status, Order.total)
    ).all()
    for order_id, status, total, count, amount in paid:
        if status in (OrderStatus.PAID, OrderStatus.SHIPPED) and (count != 1 or amount != total):
            report.violations.append(f"order {order_id} is paid but has {count} paid payments ({amount})")
        if status not in (OrderStatus.PAID, OrderStatus.SHIPPED) and count:
            report.violations.append(f"order {order_id} is {status} but has a paid payment")


# A SKU whose ledger is broken gets at most this many violations reported, not one per entry.
MAX_LEDGER_VIOLATIONS_PER_SKU = 5


def _check_ledgers(session: Session, report: AuditReport) -> None:
    """Replay every SKU's ledger and compare it with the product's figures."""
    figures = {
        sku: (on_hand, reserved)
        for sku, on_hand, reserved in session.execute(select(Product.sku, Product.on_hand, Product.reserved))
    }
    rows = session.execute(
        select(
            AppliedRequest.sku,
            AppliedRequest.seq,
            AppliedRequest.request_id,
            AppliedRequest.outcome,
            AppliedRequest.on_hand_after,
            AppliedRequest.reserved_after,
        )
        .where(AppliedRequest.sku.is_not(None))
        .order_by(AppliedRequest.sku, AppliedRequest.seq)
        .execution_options(yield_per=5000)
    )
    last: dict[str, tuple[int, tuple[int, int]]] = {}
    problems: dict[str, int] = {}

    def violation(sku: str, text: str) -> None:
        problems[sku] = problems.get(sku, 0) + 1
        if problems[sku] <= MAX_LEDGER_VIOLATIONS_PER_SKU:
            report.violations.append(f"{sku} ledger: {text}")

    for sku, seq, request_id, outcome, on_hand, reserved in rows:
        report.ledger_entries += 1
        recorded = (on_hand, reserved)
        previous_seq, previous = last.get(sku, (0, None))
        if seq != previous_seq + 1:
            violation(sku, f"entry {seq} follows entry {previous_seq}")
        expected = replay(previous, json.loads(outcome))
        if expected is None:
            violation(sku, f"entry {seq} ({request_id}) comes before the product's opening entry")
        elif expected != recorded:
            violation(
                sku,
                f"entry {seq} ({request_id}) records on_hand/reserved {recorded}, replay gives {expected}",
            )
        if not 0 <= reserved <= on_hand:
            violation(sku, f"entry {seq} ({request_id}) records reserved {reserved} outside 0..{on_hand}")
        last[sku] = (seq, recorded)
    for sku, current in figures.items():
        if sku not in last:
            violation(sku, "the product has no ledger entries")
        elif last[sku][1] != current:
            violation(sku, f"replay ends at on_hand/reserved {last[sku][1]}, the product has {current}")


def _check_draws(session: Session, report: AuditReport) -> None:
    """Recompute each sale opening's draw from its seed and compare it with the tickets given."""
    openings = session.execute(
        select(AppliedRequest.lane, AppliedRequest.outcome).where(AppliedRequest.kind == "open_sale")
    ).all()
    for lane, raw in openings:
        opening = json.loads(raw)
        if opening.get("outcome") != "sale_opened" or not opening.get("count"):
            continue
        first, count = int(opening["first_ticket"]), int(opening["count"])
        drawn = session.execute(
            select(AppliedRequest.request_id)
            .where(
                AppliedRequest.lane == lane,
                AppliedRequest.ticket >= first,
                AppliedRequest.ticket < first + count,
            )
            .order_by(AppliedRequest.ticket)
        ).scalars()
        applied = list(drawn)
        if len(applied) < count:
            continue  # some of the pre-queue is still in line; checked once it is all applied
        if applied != shuffled(applied, int(opening["seed"])):
            report.violations.append(
                f"{lane}: the pre-queue of the sale opened with seed {opening['seed']} was not applied "
                "in the order its draw gives"
            )
