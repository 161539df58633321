"""The batch of one SKU's lane: every request decided in line order, in one transaction.

All changes to a SKU's holds go through ``apply_stock_requests``: one transaction for a batch of
that SKU's queued requests, decided one by one in line order against a running stock figure read
once under the row lock. The 37th unit goes to the 37th in line, never to a later request.

The waitlist lives in the same step: a request that asked for it (``waitlist: true``) and finds the
SKU sold out while units are held in carts becomes a waiting entry, and whenever units are
available again (a hold expired or removed, an unpaid order expired, more stock) the oldest
waiting entries get them before the next request in line is decided.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from shop.domain.effects import BatchEffects
from shop.domain.handlers import SKU_LANE_HANDLERS
from shop.domain.holds import place_hold
from shop.domain.ledger import (
    claim_fence,
    record_outcomes,
    record_stock_entries,
    recorded_outcomes,
    recorded_seqs,
)
from shop.domain.requests import (
    Outcome,
    OutcomeDict,
    QueuedRequest,
    RequestKind,
    plain_names,
    rejected,
    sku_lane,
)
from shop.domain.stock_state import StockState, customer_units, load_state
from shop.domain.stock_write import fill_hold_ids, stock_after, write_stock
from shop.domain.waitlist import (
    close_entry,
    republish_waitlist,
    settle_waitlist,
    waiting_entries,
    waitlist_expired,
)
from shop.storage.models import (
    WaitlistStatus,
    utcnow,
)


def apply_stock_requests(
    session: Session,
    sku: str,
    fence_token: int,
    requests: Sequence[QueuedRequest],
    hold_ttl: timedelta,
    now: datetime | None = None,
    before_commit: Callable[[], None] | None = None,
    effects: BatchEffects | None = None,
    waitlist_ttl: timedelta | None = None,
) -> list[OutcomeDict]:
    """Apply a batch of one SKU's requests in line order, in one transaction; return each outcome.

    Every decision is also an entry of the SKU's ledger, with the figures after it. ``effects``
    (if given) collects what the consumer publishes besides the outcomes, the follow-ups to
    schedule among them. ``waitlist_ttl`` is how long a waitlist entry waits for a returned unit
    (None: requests cannot join the waitlist). ``before_commit`` runs inside the transaction after
    every decision is written; the fault tests use it to stall (and kill) a consumer mid-apply.
    """
    now = now or utcnow()
    lane = sku_lane(sku)
    effects = effects if effects is not None else BatchEffects()
    with session.begin():
        claim_fence(session, lane, fence_token)
        done = recorded_outcomes(session, [r.request_id for r in requests])
        fresh = _unseen(requests, done)
        outcomes: dict[str, OutcomeDict] = dict(done)
        if done:
            effects.seqs.update(recorded_seqs(session, done))
            republish_waitlist(session, list(done), effects)
        state = None
        if fresh:
            state = load_state(session, sku, fresh, hold_ttl, now)
            if state is None:
                applied = [(r, {"outcome": Outcome.UNKNOWN_SKU, "sku": sku}) for r in fresh]
                record_outcomes(session, lane, applied, now)
            else:
                state.waitlist_ttl = waitlist_ttl
                applied = _decide(session, state, fresh)
                _record(session, lane, state, applied, effects)
            outcomes.update((request.request_id, outcome) for request, outcome in applied)
            if before_commit is not None:
                before_commit()
        effects.stock = stock_after(session, sku, state)
    ordered = [outcomes[r.request_id] for r in requests]
    plain_names(ordered)
    effects.follow(requests, ordered)
    return ordered


def _decide(
    session: Session, state: StockState, fresh: Sequence[QueuedRequest]
) -> list[tuple[QueuedRequest, OutcomeDict]]:
    """Decide each request in line order, the waitlist served first, and write the batch's stock."""
    applied: list[tuple[QueuedRequest, OutcomeDict]] = []
    for request in fresh:
        # Units available now go to the oldest waitlist entries before this request.
        serve_waitlist(session, state, request.request_id)
        if request.request_id in state.decided:
            outcome = state.decided[request.request_id]
        else:
            outcome = _apply_one(session, state, request)
            state.note(request.request_id, request.kind, outcome, request.ticket, request.params)
        applied.append((request, outcome))
    serve_waitlist(session, state, fresh[-1].request_id)
    write_stock(session, state)
    session.flush()
    fill_hold_ids(applied)
    return applied


def _record(
    session: Session,
    lane: str,
    state: StockState,
    applied: Sequence[tuple[QueuedRequest, OutcomeDict]],
    effects: BatchEffects,
) -> None:
    """Write the batch's ledger entries, and note what the consumer publishes besides the outcomes."""
    sku = state.product.sku
    settle_waitlist(state, effects)
    record_stock_entries(session, lane, sku, state.journal, state.now)
    effects.seqs.update({e.request_id: e.seq for e in state.journal})
    if state.customer_limit and state.touched_shoppers:
        effects.shopper_units = customer_units(session, sku, state.touched_shoppers)
    if state.rules_changed:
        product = state.product
        effects.product_rules = (
            product.max_per_cart,
            product.max_per_customer,
            product.sale_starts_at,
            product.base_uom,
            tuple((u.uom, u.conversion) for u in product.uoms),
        )


def _apply_one(session: Session, state: StockState, request: QueuedRequest) -> OutcomeDict:
    """Decide one request with its kind's handler (shop.domain.handlers); reject a kind it has none for."""
    handler = SKU_LANE_HANDLERS.get(request.kind)
    if handler is None:
        return rejected(f"unknown request kind {request.kind!r}")
    return handler(session, state, request)


def serve_waitlist(session: Session, state: StockState, trigger: str) -> None:
    """Give available units to the oldest waiting entries they fit, before anyone newer in line.

    An entry that does not fit yet (it wants 2, 1 came back) keeps its place; a later one may fit.
    """
    if state.available <= 0:
        return
    for entry in list(waiting_entries(session, state)):
        if state.available <= 0:
            return
        if entry.status != WaitlistStatus.WAITING:
            continue
        if entry.expires_at <= state.now:
            close_entry(state, entry, WaitlistStatus.EXPIRED, waitlist_expired(state, entry), trigger)
            continue
        params = {
            "cart_id": entry.cart_id,
            "sku": entry.sku,
            "qty": entry.qty,
            "allow_partial": entry.allow_partial,
            "shopper": entry.shopper_key,
        }
        outcome = place_hold(session, state, QueuedRequest(entry.request_id, RequestKind.HOLD, params))
        if outcome["outcome"] == Outcome.HELD:
            close_entry(state, entry, WaitlistStatus.SERVED, outcome, trigger)
        elif outcome["outcome"] not in (Outcome.SOLD_OUT, Outcome.INSUFFICIENT):
            close_entry(state, entry, WaitlistStatus.REFUSED, outcome, trigger)


def _unseen(requests: Sequence[QueuedRequest], done: dict[str, OutcomeDict]) -> list[QueuedRequest]:
    """Drop requests applied before, and repeats of one request within the batch."""
    seen = set(done)
    fresh = []
    for request in requests:
        if request.request_id not in seen:
            seen.add(request.request_id)
            fresh.append(request)
    return fresh
