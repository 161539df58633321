"""RQ job functions: the names stored in each lane's job hashes.

The lane consumer reads these jobs and applies them in batches without calling these functions.
They exist so that a stock RQ worker can run the same jobs one at a time (the benchmark's
baseline, or a manual replay): each applies a batch of one through the same domain function.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from rq import get_current_job

from config import config_from_env
from shop.domain.inventory import RequestKind, apply_stock_requests, sku_lane
from shop.domain.ledger import Outcome, QueuedRequest, current_fence
from shop.domain.orders import OrderKind, apply_order_requests, checkout_lane
from shop.services import Services, build_services

_services: Services | None = None


def _shared_services() -> Services:
    global _services
    if _services is None:
        _services = build_services(config_from_env())
    return _services


def _request(kind: str, params: dict[str, Any]) -> QueuedRequest:
    job = get_current_job()
    request_id = job.id if job else f"manual-{kind}"
    return QueuedRequest(request_id=request_id, kind=kind, params=params)


def _apply_stock(kind: str, sku: str, params: dict[str, Any]) -> Outcome:
    services = _shared_services()
    lane = sku_lane(sku)
    session = services.db.write_session()
    try:
        # Outside the lease: reuse the current fence, so this only works with no consumer on the lane.
        with services.db.reading() as reader:
            token = current_fence(reader, lane)
        ttl = timedelta(seconds=services.config.HOLD_TTL_SECONDS)
        return apply_stock_requests(session, sku, token, [_request(kind, params)], ttl)[0]
    finally:
        session.close()


def hold(cart_id: str, sku: str, qty: int, allow_partial: bool = False, **extra: Any) -> Outcome:
    params = {"cart_id": cart_id, "sku": sku, "qty": qty, "allow_partial": allow_partial, **extra}
    return _apply_stock(RequestKind.HOLD, sku, params)


def set_quantity(cart_id: str, sku: str, qty: int, **extra: Any) -> Outcome:
    return _apply_stock(RequestKind.SET_QUANTITY, sku, {"cart_id": cart_id, "sku": sku, "qty": qty, **extra})


def expire_hold(hold_id: int, sku: str) -> Outcome:
    return _apply_stock(RequestKind.EXPIRE_HOLD, sku, {"hold_id": hold_id, "sku": sku})


def set_stock(sku: str, on_hand: int, fields: dict[str, Any] | None = None) -> Outcome:
    return _apply_stock(RequestKind.SET_STOCK, sku, {"sku": sku, "on_hand": on_hand, "fields": fields or {}})


def expire_waitlist(request_id: str, sku: str) -> Outcome:
    return _apply_stock(RequestKind.EXPIRE_WAITLIST, sku, {"request_id": request_id, "sku": sku})


def open_sale(sku: str, seed: int, start_ms: int) -> Outcome:
    return _apply_stock(RequestKind.OPEN_SALE, sku, {"sku": sku, "seed": seed, "start_ms": start_ms})


def handoff(sku: str, order_id: str) -> Outcome:
    return _apply_stock(RequestKind.HANDOFF, sku, {"sku": sku, "order_id": order_id})


def _apply_order(kind: str, cart_id: str, params: dict[str, Any]) -> Outcome:
    services = _shared_services()
    lane = checkout_lane(cart_id, services.config.CHECKOUT_LANES)
    session = services.db.write_session()
    try:
        with services.db.reading() as reader:
            token = current_fence(reader, lane)
        ttl = timedelta(seconds=services.config.PAYMENT_TTL_SECONDS)
        return apply_order_requests(session, lane, token, [_request(kind, params)], ttl)[0]
    finally:
        session.close()


def checkout(cart_id: str) -> Outcome:
    return _apply_order(OrderKind.CHECKOUT, cart_id, {"cart_id": cart_id})


def expire_order(order_id: str, cart_id: str) -> Outcome:
    return _apply_order(OrderKind.EXPIRE_ORDER, cart_id, {"order_id": order_id, "cart_id": cart_id})


def sweep() -> dict[str, int]:
    from shop.lanes import expiry

    services = _shared_services()
    return expiry.sweep(services.db, services.lanes, services.config.CHECKOUT_LANES)
