"""Apply one lane's batch: the single entry both the lane consumer and the RQ job functions call.

A SKU lane's batch is decided in shop.domain.inventory; a checkout lane's here. Either way each
request's handler comes from the one table (shop.domain.handlers), the batch is one transaction
checked against the lane's fencing token, and its follow-ups come back in ``BatchEffects``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from shop.domain.effects import BatchEffects
from shop.domain.handlers import CHECKOUT_LANE_HANDLERS
from shop.domain.inventory import apply_stock_requests
from shop.domain.ledger import claim_fence, record_outcomes, recorded_outcomes
from shop.domain.orders import OrderBatch
from shop.domain.requests import (
    CHECKOUT_LANE_PREFIX,
    OutcomeDict,
    QueuedRequest,
    lane_sku,
    plain_names,
    rejected,
)
from shop.storage.models import utcnow


@dataclass(frozen=True)
class BatchSettings:
    """How long what a batch creates lasts: holds, unpaid orders, waitlist entries (None: no waitlist)."""

    hold_ttl: timedelta
    payment_ttl: timedelta
    waitlist_ttl: timedelta | None = None

    @classmethod
    def from_config(cls, config: Any) -> BatchSettings:
        """Read the three lifetimes (seconds) from the app's configuration."""
        return cls(
            hold_ttl=timedelta(seconds=config.HOLD_TTL_SECONDS),
            payment_ttl=timedelta(seconds=config.PAYMENT_TTL_SECONDS),
            waitlist_ttl=timedelta(seconds=config.WAITLIST_TTL_SECONDS),
        )


def apply_batch(
    session: Session,
    lane: str,
    fence_token: int,
    requests: Sequence[QueuedRequest],
    settings: BatchSettings,
    effects: BatchEffects,
    before_commit: Callable[[], None] | None = None,
) -> list[OutcomeDict]:
    """Apply a batch of one lane's requests in line order; return each outcome, effects in ``effects``."""
    sku = lane_sku(lane)
    if sku is not None:
        return apply_stock_requests(
            session,
            sku,
            fence_token,
            requests,
            settings.hold_ttl,
            before_commit=before_commit,
            effects=effects,
            waitlist_ttl=settings.waitlist_ttl,
        )
    if lane.startswith(CHECKOUT_LANE_PREFIX):
        return apply_order_requests(
            session, lane, fence_token, requests, settings.payment_ttl, effects=effects
        )
    return [rejected(f"no consumer for lane {lane!r}") for _ in requests]


def apply_order_requests(
    session: Session,
    lane: str,
    fence_token: int,
    requests: Sequence[QueuedRequest],
    payment_ttl: timedelta,
    now: datetime | None = None,
    effects: BatchEffects | None = None,
) -> list[OutcomeDict]:
    """Apply a batch of checkout-lane requests in line order, in one transaction."""
    batch = OrderBatch(lane, payment_ttl, now or utcnow())
    with session.begin():
        claim_fence(session, lane, fence_token)
        done = recorded_outcomes(session, [r.request_id for r in requests])
        outcomes: dict[str, OutcomeDict] = dict(done)
        applied: list[tuple[QueuedRequest, OutcomeDict]] = []
        for request in requests:
            if request.request_id in outcomes:
                continue  # applied before, or a repeat within this batch
            handler = CHECKOUT_LANE_HANDLERS.get(request.kind)
            if handler is None:
                outcome = rejected(f"unknown request kind {request.kind!r}")
            else:
                outcome = handler(session, batch, request)
            outcomes[request.request_id] = outcome
            applied.append((request, outcome))
        record_outcomes(session, lane, applied, batch.now)
    ordered = [outcomes[r.request_id] for r in requests]
    plain_names(ordered)
    if effects is not None:
        effects.follow(requests, ordered)
    return ordered
