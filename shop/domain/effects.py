"""What a batch did besides its outcomes: the figures to publish and the follow-ups to schedule.

The domain decides a batch's follow-ups (the expiry of each hold, unpaid order and waitlist entry
it created, the hand-off of units an order returned to each SKU's lane) and returns them here, so
the consumer only publishes and schedules what it is given.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from shop.domain.requests import (
    UNITS_RETURNED,
    OrderKind,
    Outcome,
    OutcomeDict,
    QueuedRequest,
    RequestKind,
    plain_names,
    sku_lane,
)


class Expiry(NamedTuple):
    """A request its lane runs at a deadline (rq-scheduler): it ends a hold, an order or a wait.

    The job id is stable per thing that expires, so scheduling it again replaces it.
    """

    job_id: str
    kind: str
    params: dict[str, Any]
    at: datetime


class HandOff(NamedTuple):
    """A request for another lane, queued once the batch that calls for it is committed."""

    lane: str
    kind: str
    params: dict[str, Any]
    job_id: str


def hold_expiry(hold_id: int, sku: str, at: datetime) -> Expiry:
    """The expiry of a hold, in its SKU's lane."""
    return Expiry(f"expire-hold-{hold_id}", RequestKind.EXPIRE_HOLD, {"hold_id": hold_id, "sku": sku}, at)


def waitlist_expiry(request_id: str, sku: str, at: datetime) -> Expiry:
    """The end of a waitlist entry's wait, in its SKU's lane."""
    params = {"request_id": request_id, "sku": sku}
    return Expiry(f"expire-waitlist-{request_id}", RequestKind.EXPIRE_WAITLIST, params, at)


def order_expiry(order_id: str, cart_id: str, at: datetime) -> Expiry:
    """The expiry of an unpaid order, in its cart's checkout lane."""
    return Expiry(
        f"expire-{order_id}", OrderKind.EXPIRE_ORDER, {"order_id": order_id, "cart_id": cart_id}, at
    )


def units_handoff(order_id: str, sku: str) -> HandOff:
    """Tell a SKU's lane about the units an order returned (one job id per order and SKU)."""
    params = {"sku": sku, "order_id": order_id}
    return HandOff(sku_lane(sku), RequestKind.HANDOFF, params, f"handoff-{order_id}-{sku}")


@dataclass(frozen=True)
class WaitlistResolution:
    """A waitlisted request's final outcome, to publish as a new result of its job."""

    job_id: str
    cart_id: str
    outcome: OutcomeDict
    seq: int | None


@dataclass
class BatchEffects:
    """What a batch did besides its outcomes, for the consumer to publish after the commit."""

    # Each request's place in the SKU's ledger (for its receipt).
    seqs: dict[str, int] = field(default_factory=dict)
    # The SKU's (available, held in carts and unpaid orders) after the batch.
    stock: tuple[int, int] | None = None
    # Units held, ordered or sold per shopper touched by the batch (SKUs with a per-customer limit).
    shopper_units: dict[str, int] = field(default_factory=dict)
    # Waitlist entries that joined (job id, entry id), and those resolved (their jobs' new results).
    waitlist_joined: list[tuple[str, int]] = field(default_factory=list)
    waitlist_resolved: list[WaitlistResolution] = field(default_factory=list)
    # The SKU's admission facts as committed when an operator's change in the batch altered them,
    # for the consumer to refresh Redis's cache:
    # (max_per_cart, max_per_customer, sale_starts_at, base_uom, ((uom, conversion), ...)).
    product_rules: tuple[int, int | None, datetime | None, str, tuple[tuple[str, int], ...]] | None = None
    # Expiries to schedule, under the request whose outcome calls for them (a batch published in
    # parts schedules each with its result), and those of holds the batch gave to waitlist entries.
    request_expiries: dict[str, list[Expiry]] = field(default_factory=dict)
    waitlist_expiries: list[Expiry] = field(default_factory=list)
    handoffs: list[HandOff] = field(default_factory=list)

    def merge(self, later: BatchEffects) -> None:
        """Add what a later transaction of the same batch did (a batch split to isolate a failure)."""
        self.seqs.update(later.seqs)
        if later.stock is not None:
            self.stock = later.stock
        self.shopper_units.update(later.shopper_units)
        self.waitlist_joined.extend(later.waitlist_joined)
        self.waitlist_resolved.extend(later.waitlist_resolved)
        if later.product_rules is not None:
            self.product_rules = later.product_rules
        self.request_expiries.update(later.request_expiries)
        self.waitlist_expiries.extend(later.waitlist_expiries)
        self.handoffs.extend(later.handoffs)

    def follow(self, requests: Sequence[QueuedRequest], outcomes: Sequence[OutcomeDict]) -> None:
        """Note the follow-ups each request's outcome calls for, whether decided now or before.

        Read from the outcome rather than noted where it was decided: a batch applied before (its
        consumer died before publishing) has only its recorded outcomes, and must call for the same.
        """
        seen: set[str] = set()
        for request, outcome in zip(requests, outcomes, strict=True):
            if request.request_id in seen:
                continue  # a repeat within the batch answers with the same outcome
            seen.add(request.request_id)
            name = outcome.get("outcome")
            if name == Outcome.HELD and outcome.get("hold_id"):
                expiry = hold_expiry(outcome["hold_id"], outcome["sku"], _moment(outcome["expires_at"]))
            elif name == Outcome.WAITLISTED:
                expiry = waitlist_expiry(request.request_id, outcome["sku"], _moment(outcome["expires_at"]))
            elif name == Outcome.ORDER_CREATED:
                cart_id = request.params["cart_id"]
                expiry = order_expiry(outcome["order_id"], cart_id, _moment(outcome["pay_before"]))
            else:
                if name in UNITS_RETURNED:
                    self.handoffs.extend(units_handoff(outcome["order_id"], sku) for sku in outcome["skus"])
                continue
            self.request_expiries[request.request_id] = [expiry]

    def resolve(self, resolution: WaitlistResolution) -> None:
        """Publish a waitlist entry's result; one that became a hold expires like any other."""
        self.waitlist_resolved.append(resolution)
        outcome = resolution.outcome
        plain_names([outcome])
        if outcome.get("outcome") == Outcome.HELD and outcome.get("hold_id"):
            at = _moment(outcome["expires_at"])
            self.waitlist_expiries.append(hold_expiry(outcome["hold_id"], outcome["sku"], at))

    def expiries(self, job_ids: Iterable[str] | None = None, waitlist: bool = True) -> list[Expiry]:
        """The expiries to schedule with these jobs' results (all the batch's if None), each once.

        One cart's several requests in a batch answer with the same hold: its expiry is scheduled once.
        """
        found = list(self.waitlist_expiries) if waitlist else []
        for job_id in self.request_expiries if job_ids is None else job_ids:
            found.extend(self.request_expiries.get(job_id, ()))
        return list({expiry.job_id: expiry for expiry in found}.values())


def _moment(value: str) -> datetime:
    return datetime.fromisoformat(value)
