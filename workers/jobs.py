"""RQ job functions: the names stored in each lane's job hashes, one per request kind.

The lane consumer reads these jobs and applies them in batches without calling these functions.
They exist so that a stock RQ worker can run the same jobs one at a time (the benchmark's
baseline, or a manual replay): each applies a batch of one through the same dispatcher as the
consumer (shop.domain.batches.apply_batch), with the same settings, and queues the hand-offs it
calls for. The expiries it calls for are left to the sweeper (no scheduling outside the lanes).
"""

from __future__ import annotations

from typing import Any

from rq import get_current_job

from config import config_from_env
from shop.domain.batches import BatchSettings, apply_batch
from shop.domain.effects import BatchEffects
from shop.domain.ledger import current_fence
from shop.domain.requests import OrderKind, OutcomeDict, QueuedRequest, RequestKind, checkout_lane, sku_lane
from shop.services import Services, build_services

_services: Services | None = None


def _shared_services() -> Services:
    global _services
    if _services is None:
        _services = build_services(config_from_env())
    return _services


def _apply(kind: str, lane: str, params: dict[str, Any]) -> OutcomeDict:
    """Apply one request in its lane (the job's queue when RQ runs it) and queue its hand-offs."""
    services = _shared_services()
    job = get_current_job()
    lane = job.origin if job is not None else lane
    request = QueuedRequest(request_id=job.id if job else f"manual-{kind}", kind=kind, params=params)
    effects = BatchEffects()
    session = services.db.write_session()
    try:
        # Outside the lease: reuse the current fence, so this only works with no consumer on the lane.
        with services.db.reading() as reader:
            token = current_fence(reader, lane)
        settings = BatchSettings.from_config(services.config)
        (outcome,) = apply_batch(session, lane, token, [request], settings, effects)
    finally:
        session.close()
    for handoff in effects.handoffs:
        services.lanes.admit(handoff.lane, handoff.kind, handoff.params, job_id=handoff.job_id)
    return outcome


def _in_sku_lane(kind: RequestKind, sku: str, **params: Any) -> OutcomeDict:
    return _apply(kind, sku_lane(sku), {"sku": sku, **params})


def _in_checkout_lane(kind: OrderKind, cart_id: str, **params: Any) -> OutcomeDict:
    lane = checkout_lane(cart_id, _shared_services().config.CHECKOUT_LANES)
    return _apply(kind, lane, {"cart_id": cart_id, **params})


def hold(cart_id: str, sku: str, qty: int, allow_partial: bool = False, **extra: Any) -> OutcomeDict:
    params = {"cart_id": cart_id, "qty": qty, "allow_partial": allow_partial, **extra}
    return _in_sku_lane(RequestKind.HOLD, sku, **params)


def set_quantity(cart_id: str, sku: str, qty: int, **extra: Any) -> OutcomeDict:
    return _in_sku_lane(RequestKind.SET_QUANTITY, sku, cart_id=cart_id, qty=qty, **extra)


def expire_hold(hold_id: int, sku: str) -> OutcomeDict:
    return _in_sku_lane(RequestKind.EXPIRE_HOLD, sku, hold_id=hold_id)


def set_stock(sku: str, on_hand: int, fields: dict[str, Any] | None = None, **extra: Any) -> OutcomeDict:
    return _in_sku_lane(RequestKind.SET_STOCK, sku, on_hand=on_hand, fields=fields or {}, **extra)


def expire_waitlist(request_id: str, sku: str) -> OutcomeDict:
    return _in_sku_lane(RequestKind.EXPIRE_WAITLIST, sku, request_id=request_id)


def open_sale(sku: str, seed: int, start_ms: int, **extra: Any) -> OutcomeDict:
    return _in_sku_lane(RequestKind.OPEN_SALE, sku, seed=seed, start_ms=start_ms, **extra)


def handoff(sku: str, order_id: str) -> OutcomeDict:
    return _in_sku_lane(RequestKind.HANDOFF, sku, order_id=order_id)


def receive(sku: str, location: str, qty: int, **extra: Any) -> OutcomeDict:
    return _in_sku_lane(RequestKind.RECEIVE, sku, location=location, qty=qty, **extra)


def allocate(sku: str, order_id: str) -> OutcomeDict:
    return _in_sku_lane(RequestKind.ALLOCATE, sku, order_id=order_id)


def ship(sku: str, order_id: str) -> OutcomeDict:
    return _in_sku_lane(RequestKind.SHIP, sku, order_id=order_id)


def checkout(cart_id: str, **extra: Any) -> OutcomeDict:
    return _in_checkout_lane(OrderKind.CHECKOUT, cart_id, **extra)


def expire_order(order_id: str, cart_id: str) -> OutcomeDict:
    return _in_checkout_lane(OrderKind.EXPIRE_ORDER, cart_id, order_id=order_id)


def cancel_order(order_id: str, cart_id: str) -> OutcomeDict:
    return _in_checkout_lane(OrderKind.CANCEL_ORDER, cart_id, order_id=order_id)


def sweep() -> dict[str, int]:
    from shop.lanes import expiry

    services = _shared_services()
    return expiry.sweep(services.db, services.lanes, services.config.CHECKOUT_LANES)
