"""What the sweeper finds overdue in the database: holds, unpaid orders and waitlist entries.

Each is a thing in a live status past its deadline, oldest first; the sweeper (shop.lanes.expiry)
puts its expiry in line again, in case Redis lost the scheduled one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute, Session

from shop.storage.models import Hold, HoldStatus, Order, OrderStatus, WaitlistEntry, WaitlistStatus


def overdue_holds(session: Session, now: datetime, limit: int = 1000) -> list[tuple[int, str]]:
    """Return (hold id, sku) of active holds past their expiry, oldest first."""
    live = Hold.status == HoldStatus.ACTIVE
    return _overdue(session, (Hold.id, Hold.sku), live, Hold.expires_at, now, limit)


def overdue_orders(session: Session, now: datetime, limit: int = 1000) -> list[tuple[str, str]]:
    """Return (order id, cart id) of unpaid orders past their deadline, oldest first."""
    unpaid = Order.status == OrderStatus.PENDING_PAYMENT
    return _overdue(session, (Order.id, Order.cart_id), unpaid, Order.pay_before, now, limit)


def overdue_waitlist(session: Session, now: datetime, limit: int = 1000) -> list[tuple[str, str]]:
    """Return (request id, sku) of waiting entries past their time, oldest first."""
    waiting = WaitlistEntry.status == WaitlistStatus.WAITING
    columns = (WaitlistEntry.request_id, WaitlistEntry.sku)
    return _overdue(session, columns, waiting, WaitlistEntry.expires_at, now, limit)


def _overdue(
    session: Session,
    columns: tuple[InstrumentedAttribute[Any], ...],
    live: Any,
    deadline: InstrumentedAttribute[datetime],
    now: datetime,
    limit: int,
) -> list[Any]:
    """Select ``columns`` of the rows still ``live`` whose ``deadline`` has passed, oldest first."""
    rows = session.execute(select(*columns).where(live, deadline <= now).order_by(deadline).limit(limit))
    return [tuple(row) for row in rows]
