"""Putting requests in line: the one path the API, the pages and the operators share.

The hot path is a single Redis round trip (the admit script). Only when Redis's product cache does
not know a SKU (after a restart, or a product created elsewhere) is the database asked.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from redis import Redis
from redis.exceptions import WatchError

from shop.domain.catalog import find_product
from shop.domain.errors import (
    Conflict,
    Invalid,
    NotFound,
    OverCustomerLimit,
    OverLimit,
    Unavailable,
    UnknownProduct,
    UnknownSku,
    UnknownUnit,
)
from shop.domain.requests import OrderKind, Outcome, RequestKind, checkout_lane, lane_sku, sku_lane
from shop.lanes import pausing
from shop.lanes.keys import IDEMPOTENCY_CLAIM_PREFIX
from shop.lanes.views import Admission, JobState
from shop.services import Services
from shop.storage.models import Product

# A fresh claim lives this long (seconds) until its request is in line; then as long as results do.
# Short, so a claim whose admission failed in a way that could not release it frees itself.
IDEMPOTENCY_CLAIM_TTL_S = 30
# How long a duplicate waits for the first request under its key to be put in line (seconds).
IDEMPOTENCY_WAIT_S = 2.0
# A claim this old with no request behind it lost its request: its claimant died between the claim
# and the admission, or a Redis failover kept the claim and lost the request (replication is
# asynchronous). A repeat then takes the claim over instead of waiting for it to expire. A live
# claimant admits within milliseconds; should one still be admitting, its request and the repeat's
# have the same id, and the ledger applies a request id once. The age is read from the claim's
# remaining life on Redis's clock, so web hosts whose clocks disagree judge it alike.
IDEMPOTENCY_STALE_S = IDEMPOTENCY_WAIT_S
IDEMPOTENCY_POLL_S = 0.01

UNKNOWN_JOB_MESSAGE = (
    "This request is unknown: it may have expired or been lost in a restart. "
    "Check your cart, then send the request again if needed."
)


def _admit_for_sku(
    services: Services,
    sku: str,
    kind: str,
    params: dict[str, Any],
    cart_id: str,
    qty: int,
    demand: int = 0,
    job_id: str | None = None,
) -> Admission:
    lane = sku_lane(sku)
    shopper = params.get("shopper", "")
    uom = params.get("uom", "")
    for attempt in range(2):
        try:
            return services.lanes.admit(
                lane,
                kind,
                params,
                cart_id=cart_id,
                sku=sku,
                qty=qty,
                demand=demand,
                shopper=shopper,
                uom=uom,
                job_id=job_id,
            )
        except UnknownProduct:
            refresh_product_cache(services, sku)
        except UnknownUnit:
            if attempt:
                raise Invalid(
                    f"{sku} is not sold by the {uom!r}; see the product's uoms.", code="unknown_uom", uom=uom
                ) from None
            # The cached units may predate the product's latest change: read them again once.
            refresh_product_cache(services, sku)
        except OverLimit as over:
            raise Invalid(
                f"At most {over.max_per_cart} of this item fit in one cart.",
                code="limit_exceeded",
                max_per_cart=over.max_per_cart,
            ) from None
        except OverCustomerLimit as over:
            raise Invalid(
                f"At most {over.max_per_customer} of this item per shopper, across all carts; "
                f"{over.customer_has} are already yours or in line for you.",
                code="customer_limit_exceeded",
                max_per_customer=over.max_per_customer,
                customer_has=over.customer_has,
            ) from None
    raise UnknownSku(sku)


def refresh_product_cache(services: Services, sku: str) -> None:
    """Load one product's admission facts from the database into Redis, or refuse an unknown SKU."""
    with services.db.reading() as session:
        try:
            product = find_product(session, sku)
        except NotFound:
            raise UnknownSku(sku) from None
        cache_product(services, product)
    # The product cache was cold (a Redis restart, most likely): so may the pause flag be.
    pausing.warm_lane(services, sku_lane(sku))


def cache_product(services: Services, product: Product) -> None:
    """Put a product's admission facts (and a first stock snapshot for the odds) in Redis."""
    services.lanes.cache_product(
        product.sku,
        product.max_per_cart,
        stock=(product.available, product.reserved),
        max_per_customer=product.max_per_customer,
        sale_starts_at=product.sale_starts_at,
        base_uom=product.base_uom,
        uoms=[(u.uom, u.conversion) for u in product.uoms],
    )


@dataclass(frozen=True)
class Repeated:
    """A repeat, under the same Idempotency-Key, of a request that is past the line (applying or decided)."""

    job_id: str
    view: dict[str, Any]


def _admit_once(
    services: Services,
    cart_id: str,
    idempotency_key: str | None,
    request: dict[str, Any],
    admit: Callable[[str | None], Admission],
) -> Admission | Repeated:
    """Admit a request once per (cart, Idempotency-Key); a repeat gets the first request's job.

    The key is claimed with SET NX, so of concurrent duplicates exactly one is put in line; the
    others wait for its job to exist and answer with it. The claim stores a fingerprint of the
    request (without the shopper key, which changes when a phone changes networks), so the same
    key with a different request is refused. The job id is derived from the cart and the key,
    which makes a repeat find the job even if its claim was lost.
    """
    if idempotency_key is None:
        return admit(None)
    slot = hashlib.sha256(f"{cart_id}:{idempotency_key}".encode()).hexdigest()
    job_id = "ck-" + slot[:40]
    claim = IDEMPOTENCY_CLAIM_PREFIX + slot
    fingerprint = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()
    redis = services.redis
    deadline = time.monotonic() + IDEMPOTENCY_WAIT_S
    while True:
        if redis.set(claim, fingerprint, nx=True, ex=IDEMPOTENCY_CLAIM_TTL_S):
            existing = _repeat(services, cart_id, job_id)
            if existing is not None:  # the claim had expired, the job had not
                return existing
            try:
                admission = admit(job_id)
            except BaseException:
                redis.delete(claim)  # refused or failed: the key may be used again
                raise
            redis.expire(claim, services.config.RESULT_TTL_SECONDS)
            return admission
        stored = redis.get(claim)
        if stored is None:
            continue  # the first request was refused and gave the key back: try to claim it
        if stored.decode() != fingerprint:
            raise Invalid(
                "This Idempotency-Key was already used for a different request from this cart; "
                "use a new key for a new request.",
                code="idempotency_key_reused",
            )
        existing = _repeat(services, cart_id, job_id)
        if existing is not None:
            return existing
        if _fresh_claim_age_s(redis, claim) > IDEMPOTENCY_STALE_S:
            _release_claim(redis, claim, stored)  # lost its request: claim it again
            continue
        if time.monotonic() > deadline:
            raise Unavailable(
                "The first request with this Idempotency-Key is still being put in line; retry shortly "
                "with the same key.",
                code="idempotency_key_in_progress",
            )
        time.sleep(IDEMPOTENCY_POLL_S)


def _fresh_claim_age_s(redis: Redis, claim: str) -> float:
    """How long ago a claim not yet extended to the results' life was made (0 for any other)."""
    left_ms = redis.pttl(claim)
    if left_ms < 0:  # gone (-2), or without an expiry (-1)
        return 0.0
    return max(0.0, IDEMPOTENCY_CLAIM_TTL_S - left_ms / 1000)


def _release_claim(redis: Redis, claim: str, stored: bytes) -> None:
    """Delete the claim if it is still the one read (another repeat may have taken it over)."""
    with redis.pipeline() as pipe:
        try:
            pipe.watch(claim)
            if pipe.get(claim) == stored:
                pipe.multi()
                pipe.delete(claim)
                pipe.execute()
        except WatchError:
            pass  # changed meanwhile: whoever changed it holds it now


def _repeat(services: Services, cart_id: str, job_id: str) -> Admission | Repeated | None:
    """The answer for a repeat of job_id: in line as when admitted, past the line as its job view."""
    state = services.lanes.view(job_id)
    if state is None or state.cart_id != cart_id:
        return None
    if state.status == "queued":
        starts_in = state.starts_in_ms if state.prequeued else None
        return Admission(
            job_id, state.lane, state.ticket, state.position, state.odds, state.eta, starts_in_ms=starts_in
        )
    return Repeated(job_id, job_status(services, cart_id, job_id))


def _cart_request(
    kind: RequestKind,
    cart_id: str,
    sku: str,
    qty: int,
    uom: str,
    shopper: str,
    asked: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A cart request's fingerprinted form (for its Idempotency-Key) and its job's params, which add
    the shopper key: that changes when a phone changes networks, and a retry is the same request."""
    params: dict[str, Any] = {"cart_id": cart_id, "sku": sku, "qty": qty, **(asked or {})}
    if uom:
        params["uom"] = uom
    request = {"kind": kind, **params}
    return request, params | ({"shopper": shopper} if shopper else {})


def request_hold(
    services: Services,
    cart_id: str,
    sku: str,
    qty: int,
    allow_partial: bool = False,
    shopper: str = "",
    waitlist: bool = False,
    uom: str = "",
    idempotency_key: str | None = None,
) -> Admission | Repeated:
    """Put 'add qty units of sku to my cart' in the SKU's line (once per ``idempotency_key``).

    ``shopper`` is the shop.domain.shoppers key the per-customer limit counts; ``waitlist`` asks to wait
    for a unit held in a cart to come back if the SKU is sold out when the request's turn comes.
    ``uom`` is the unit ``qty`` counts (empty: the product's base unit).
    """
    asked: dict[str, Any] = {"allow_partial": allow_partial} | ({"waitlist": True} if waitlist else {})
    request, params = _cart_request(RequestKind.HOLD, cart_id, sku, qty, uom, shopper, asked)

    def admit(job_id: str | None) -> Admission:
        return _admit_for_sku(
            services, sku, RequestKind.HOLD, params, cart_id, qty, demand=qty, job_id=job_id
        )

    return _admit_once(services, cart_id, idempotency_key, request, admit)


def request_quantity(
    services: Services,
    cart_id: str,
    sku: str,
    qty: int,
    shopper: str = "",
    uom: str = "",
    idempotency_key: str | None = None,
) -> Admission | Repeated:
    """Put 'my cart should hold exactly qty units of sku' in the SKU's line (0 removes the line)."""
    request, params = _cart_request(RequestKind.SET_QUANTITY, cart_id, sku, qty, uom, shopper)

    def admit(job_id: str | None) -> Admission:
        return _admit_for_sku(services, sku, RequestKind.SET_QUANTITY, params, cart_id, qty, job_id=job_id)

    return _admit_once(services, cart_id, idempotency_key, request, admit)


def request_stock_change(
    services: Services,
    sku: str,
    on_hand: int,
    fields: dict[str, Any] | None = None,
    location: str | None = None,
) -> Admission:
    """Put an operator's new on-hand figure (and any detail changes) in the SKU's line.

    The difference is an adjustment at ``location`` (default: the SKU's first location).
    """
    params: dict[str, Any] = {"sku": sku, "on_hand": on_hand, "fields": dict(fields or {})}
    if location:
        params["location"] = location
    return _admit_for_sku(services, sku, RequestKind.SET_STOCK, params, "", 0)


def request_checkout(
    services: Services, cart_id: str, idempotency_key: str | None, notes: str | None = None
) -> Admission:
    """Put a checkout in its cart's checkout line; a repeated Idempotency-Key returns the same job."""
    lane = checkout_lane(cart_id, services.config.CHECKOUT_LANES)
    job_id = None
    if idempotency_key:
        job_id = "co-" + hashlib.sha256(f"{cart_id}:{idempotency_key}".encode()).hexdigest()[:40]
        state = services.lanes.view(job_id)
        if state is not None:
            return Admission(job_id, lane, state.ticket or 0, state.position or 0)
    params: dict[str, Any] = {"cart_id": cart_id}
    if notes:
        params["notes"] = notes
    return services.lanes.admit(lane, OrderKind.CHECKOUT, params, cart_id=cart_id, job_id=job_id)


# Job statuses that are a request's last word: nothing about it changes after them.
FINAL_STATUSES = frozenset({"finished", "failed"})


def job_status(services: Services, cart_id: str, job_id: str, wait_s: float = 0) -> dict[str, Any]:
    """Describe a job to the cart that made it; anyone else (or a forgotten job) gets NotFound.

    With ``wait_s`` the answer waits, up to that long, for the job's last word (finished or
    failed): a long-poll woken by the lane's consumer (shop.lanes.decisions), not a sleep.
    """
    state = _owned_state(services, cart_id, job_id)
    view = _status_view(job_id, state)
    if wait_s <= 0 or view["status"] in FINAL_STATUSES or services.decisions is None:
        return view
    return _waited(services, cart_id, job_id, state.lane, wait_s, lambda v: v["status"] in FINAL_STATUSES)


def job_answer(
    services: Services, cart_id: str, job_id: str, lane: str, wait_s: float
) -> dict[str, Any] | None:
    """The job's view once it has a result (held, sold out, waitlisted…) within ``wait_s``, else None."""
    if services.decisions is None:
        return None
    view = _waited(services, cart_id, job_id, lane, wait_s, lambda v: v["result"] is not None)
    return view if view["result"] is not None else None


def _waited(
    services: Services,
    cart_id: str,
    job_id: str,
    lane: str,
    wait_s: float,
    done: Callable[[dict[str, Any]], bool],
) -> dict[str, Any]:
    assert services.decisions is not None
    return services.decisions.wait(
        lane, lambda: _status_view(job_id, _owned_state(services, cart_id, job_id)), done, wait_s
    )


def _owned_state(services: Services, cart_id: str, job_id: str) -> JobState:
    state = services.lanes.view(job_id)
    if state is None or not state.cart_id or state.cart_id != cart_id:
        raise NotFound(UNKNOWN_JOB_MESSAGE, code="unknown_job", retry=True)
    return state


def _status_view(job_id: str, state: JobState) -> dict[str, Any]:
    odds, eta = state.odds, state.eta
    return {
        "job_id": job_id,
        "status": state.shown_status,
        "position": state.position,
        "waitlist_position": state.waitlist_rank if state.waitlisted else None,
        "sale_starts_in_seconds": _seconds(state.starts_in_ms) if state.prequeued else None,
        "poll_after_ms": state.poll_after_ms,
        "odds": odds.to_dict() if odds else None,
        "eta_seconds": eta.to_dict() if eta else None,
        "result": state.result,
    }


def job_receipt(services: Services, cart_id: str, job_id: str) -> dict[str, Any]:
    """Describe what became of a finished request, for the cart that made it."""
    receipt = services.lanes.receipt(job_id)
    if receipt is None or not receipt.cart_id or receipt.cart_id != cart_id:
        raise NotFound(UNKNOWN_JOB_MESSAGE, code="unknown_job", retry=True)
    if receipt.status not in ("finished", "failed") or receipt.result is None:
        raise Conflict(
            "This request has not been decided yet; its receipt is issued when it is.",
            code="not_finished",
            status=receipt.status,
        )
    return {
        "job_id": job_id,
        "sku": lane_sku(receipt.lane),
        "lane": receipt.lane,
        "ticket": receipt.ticket,
        "position_when_joined": receipt.position_when_joined,
        "enqueued_at": _iso(receipt.enqueued_at),
        "applied_at": _iso(receipt.applied_at),
        "outcome": receipt.result,
        "ledger_seq": receipt.ledger_seq,
    }


def _seconds(milliseconds: int | None) -> int | None:
    """Whole seconds to a sale's start, rounded up (0 once it is due but not yet opened)."""
    return None if milliseconds is None else max(0, -(-milliseconds // 1000))


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def admission_view(admission: Admission, cart_token: str) -> dict[str, Any]:
    return {
        "job_id": admission.job_id,
        "status": admission.status,
        "position": admission.position,
        "ticket": admission.ticket,
        "sale_starts_in_seconds": _seconds(admission.starts_in_ms),
        "odds": admission.odds.to_dict() if admission.odds else None,
        "eta_seconds": admission.eta.to_dict() if admission.eta else None,
        "status_url": f"/jobs/{admission.job_id}",
        "cart_token": cart_token,
    }


def request_allocation(services: Services, order_id: str) -> list[Admission]:
    """Put 'allocate this paid order's units' in each of its SKUs' lines (after the payment's commit).

    The job id is stable per order and SKU, so a repeat (a replayed payment, the sweeper) is
    applied once.
    """
    from shop.domain.orders import paid_unallocated

    with services.db.reading() as session:
        pairs = paid_unallocated(session, order_id)
    return [
        services.lanes.admit(
            sku_lane(sku),
            RequestKind.ALLOCATE,
            {"sku": sku, "order_id": oid},
            job_id=f"allocate-{oid}-{sku}",
        )
        for oid, sku in pairs
    ]


def request_receipt(
    services: Services, sku: str, location: str, qty: int, uom: str = "", doc_ref: str = ""
) -> Admission:
    """Put a goods receipt (qty of uom arriving at location) in the SKU's line."""
    params: dict[str, Any] = {"sku": sku, "location": location, "qty": qty}
    if uom:
        params["uom"] = uom
    if doc_ref:
        params["doc_ref"] = doc_ref
    return _admit_for_sku(services, sku, RequestKind.RECEIVE, params, "", 0)


def request_shipment(services: Services, order_id: str, skus: list[str]) -> list[Admission]:
    """Put 'issue this order's units' in each of its SKUs' lines."""
    return [
        _admit_for_sku(services, sku, RequestKind.SHIP, {"sku": sku, "order_id": order_id}, "", 0)
        for sku in skus
    ]


def request_cancel(services: Services, order_id: str, cart_id: str) -> Admission:
    """Put an operator's cancellation of an unpaid order in its cart's checkout line."""
    lane = checkout_lane(cart_id, services.config.CHECKOUT_LANES)
    params = {"order_id": order_id, "cart_id": cart_id}
    return services.lanes.admit(lane, OrderKind.CANCEL_ORDER, params, job_id=f"cancel-{order_id}")


def await_result(services: Services, adm: Admission, wait_s: float) -> dict[str, Any]:
    """Wait up to ``wait_s`` for a queued request's outcome; else say it is still in line.

    The wait is the long-poll of ``shop.lanes.decisions`` (woken by the lane's consumer when it
    publishes a batch), not a sleep: no Redis reads while nothing is decided.
    """

    def result() -> dict[str, Any] | None:
        state = services.lanes.view(adm.job_id)
        return state.result if state is not None else None

    if services.decisions is None or wait_s <= 0:
        outcome = result()
    else:
        outcome = services.decisions.wait(adm.lane, result, lambda found: found is not None, wait_s)
    if outcome is not None:
        return outcome
    return {"outcome": Outcome.QUEUED, "job_id": adm.job_id, "position": adm.position}
