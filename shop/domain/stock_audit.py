"""The audit of stock per location: movements explain on hand, holds explain reserved and allocated.

Run by ``shop.domain.audit.audit`` in its snapshot. Per location: the item movements (IN − OUT) sum to on
hand; reserved equals the units of holds there that carts and unpaid (or paid but not yet
allocated) orders keep; allocated equals the units of paid, allocated, unshipped holds there. Per
SKU: its totals equal the sum of its locations. Every live hold's locations add up to its quantity.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from shop.domain.locations import parse_locations
from shop.storage.models import (
    Hold,
    HoldStatus,
    ItemMovement,
    MovementType,
    OrderLine,
    Product,
    StockLocation,
)

RESERVING = (HoldStatus.ACTIVE, HoldStatus.ORDERED, HoldStatus.PAID)
ALLOCATING = (HoldStatus.SOLD,)


def check_locations(session: Session, violations: list[str]) -> int:
    """Append every per-location violation; return the number of locations checked."""
    loc = StockLocation
    rows = session.execute(
        select(loc.sku, loc.location_code, loc.on_hand, loc.reserved, loc.allocated).order_by(
            loc.sku, loc.location_code
        )
    ).all()
    signed = case((ItemMovement.movement_type == MovementType.IN, ItemMovement.qty), else_=-ItemMovement.qty)
    moved = {
        (sku, code): int(total)
        for sku, code, total in session.execute(
            select(ItemMovement.sku, ItemMovement.location_code, func.sum(signed)).group_by(
                ItemMovement.sku, ItemMovement.location_code
            )
        )
    }
    reserved: dict[tuple[str, str], int] = defaultdict(int)
    allocated: dict[tuple[str, str], int] = defaultdict(int)
    holds = session.execute(
        select(Hold.id, Hold.sku, Hold.qty, Hold.status, Hold.locations).where(
            Hold.status.in_([*RESERVING, *ALLOCATING])
        )
    )
    for hold_id, sku, qty, status, raw in holds:
        where = parse_locations(raw)
        if sum(where.values()) != qty:
            violations.append(f"hold {hold_id} ({sku}): its locations {where} do not add up to its qty {qty}")
        into = reserved if status in RESERVING else allocated
        for code, units in where.items():
            into[(sku, code)] += units
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    known = set()
    for sku, code, on_hand, res, alloc in rows:
        key = (sku, code)
        known.add(key)
        sums = totals[sku]
        sums[0] += on_hand
        sums[1] += res
        sums[2] += alloc
        where = f"{sku}@{code}"
        if moved.get(key, 0) != on_hand:
            violations.append(f"{where}: on hand {on_hand} but its movements sum to {moved.get(key, 0)}")
        if res != reserved.get(key, 0):
            violations.append(f"{where}: reserved {res} but holds there keep {reserved.get(key, 0)}")
        if alloc != allocated.get(key, 0):
            violations.append(
                f"{where}: allocated {alloc} but paid unshipped holds there have {allocated.get(key, 0)}"
            )
        if not (res >= 0 and alloc >= 0 and res + alloc <= on_hand):
            violations.append(f"{where}: reserved {res} + allocated {alloc} outside 0..on hand {on_hand}")
    for key in (set(reserved) | set(allocated) | set(moved)) - known:
        violations.append(f"{key[0]}@{key[1]}: holds or movements name a location the SKU does not have")
    for sku, on_hand, res, alloc in session.execute(
        select(Product.sku, Product.on_hand, Product.reserved, Product.allocated)
    ):
        got = totals.get(sku, [0, 0, 0])
        if [on_hand, res, alloc] != got:
            violations.append(
                f"{sku}: on hand/reserved/allocated {(on_hand, res, alloc)} "
                f"differ from its locations' {tuple(got)}"
            )
    _check_lines(session, violations)
    return len(rows)


def _check_lines(session: Session, violations: list[str]) -> None:
    """An order line is shipped exactly when its hold is, and costs qty x unit_price - disc_amt."""
    line = OrderLine
    costs = (line.qty, line.unit_price, line.disc_amt, line.net_amt)
    lines = session.execute(
        select(line.order_id, line.sku, *costs, line.shipped_at, Hold.status).join(
            Hold, Hold.id == line.hold_id
        )
    )
    for order_id, sku, qty, unit_price, disc_amt, net_amt, shipped_at, status in lines:
        if (shipped_at is not None) != (status == HoldStatus.SHIPPED):
            violations.append(
                f"order {order_id} {sku}: line shipped_at {shipped_at} but its hold is {status}"
            )
        if net_amt != qty * unit_price - disc_amt or disc_amt < 0:
            violations.append(f"order {order_id} {sku}: net_amt {net_amt} is not qty x unit_price - disc_amt")
