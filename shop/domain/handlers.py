"""The one table of request kinds and the functions that decide them.

Both batches look a request's handler up here (the SKU lanes' in shop.domain.inventory, the
checkout lanes' in shop.domain.batches), whoever applies them: the lane consumer or a stock RQ
worker running workers/jobs.py. ``tests/test_request_kinds.py`` checks that every kind has one.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from shop.domain import holds, orders, stock_changes, waitlist
from shop.domain.requests import OrderKind, OutcomeDict, QueuedRequest, RequestKind

# A handler decides one request against its batch: a StockState (SKU lanes) or an OrderBatch.
Handler = Callable[[Session, Any, QueuedRequest], OutcomeDict]

HANDLERS: dict[str, Handler] = {
    RequestKind.HOLD: holds.place_hold,
    RequestKind.SET_QUANTITY: holds.set_hold_quantity,
    RequestKind.EXPIRE_HOLD: holds.expire_hold,
    RequestKind.EXPIRE_WAITLIST: waitlist.expire_waitlist_entry,
    RequestKind.SET_STOCK: stock_changes.set_stock,
    RequestKind.RECEIVE: stock_changes.receive,
    RequestKind.ALLOCATE: stock_changes.allocate,
    RequestKind.SHIP: stock_changes.ship,
    RequestKind.HANDOFF: stock_changes.take_handoff,
    RequestKind.OPEN_SALE: stock_changes.record_draw,
    OrderKind.CHECKOUT: orders.checkout,
    OrderKind.EXPIRE_ORDER: orders.expire_order,
    OrderKind.CANCEL_ORDER: orders.cancel_order,
}


def _served(kinds: type[enum.StrEnum]) -> dict[str, Handler]:
    """The part of the table one kind of lane serves."""
    return {kind: handler for kind, handler in HANDLERS.items() if kind in set(kinds)}


# The table as each kind of lane reads it: a SKU lane decides only stock kinds, a checkout lane
# only order kinds; any other kind is rejected there.
SKU_LANE_HANDLERS = _served(RequestKind)
CHECKOUT_LANE_HANDLERS = _served(OrderKind)
