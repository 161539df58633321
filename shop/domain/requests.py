"""What travels through a lane: the kinds of request, the lanes' names, a request and its outcome.

Defined once here and read by every layer: the web tier and the lanes name kinds and lanes when
they queue a request, the consumer and the RQ jobs hand requests to the domain, and the outcome
names are the ``outcome`` field of every job's JSON result (their values never change).
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


class _Name(enum.StrEnum):
    """A name whose members travel as plain strings.

    Outcomes and kinds leave the process in RQ's pickled job results and kwargs: pickled as plain
    ``str``, a reader (rq-dashboard, the web tier, an older or newer release) need not import this
    module, and the bytes stay those of the string. JSON already writes them as their values.
    """

    def __reduce_ex__(self, protocol: object) -> tuple[type[str], tuple[str]]:
        return str, (self.value,)


class RequestKind(_Name):
    """What a request in a SKU's lane asks for; its value is also the job function's name."""

    HOLD = "hold"
    SET_QUANTITY = "set_quantity"
    EXPIRE_HOLD = "expire_hold"
    SET_STOCK = "set_stock"
    # Units came back outside the SKU's line (an unpaid order expired on its checkout line): tell it.
    HANDOFF = "handoff"
    EXPIRE_WAITLIST = "expire_waitlist"
    # The first request in line when a sale opens: records the pre-queue's draw in the ledger.
    OPEN_SALE = "open_sale"
    # Stock lifecycle (docs/issue11-design.md): goods receipt; paid units reserved -> allocated;
    # goods issue of an order's allocated units.
    RECEIVE = "receive"
    ALLOCATE = "allocate"
    SHIP = "ship"


class OrderKind(_Name):
    """What a request in a checkout lane asks for."""

    CHECKOUT = "checkout"
    EXPIRE_ORDER = "expire_order"
    # An operator cancels an unpaid order: soft delete, its units back as on expiry.
    CANCEL_ORDER = "cancel_order"


class Outcome(_Name):
    """The ``outcome`` of a decided request, as its job's result and its ledger entry carry it."""

    # Holds and the cart's lines.
    HELD = "held"
    RELEASED = "released"
    EXPIRED = "expired"
    SOLD_OUT = "sold_out"
    INSUFFICIENT = "insufficient"
    LIMIT_EXCEEDED = "limit_exceeded"
    CUSTOMER_LIMIT_EXCEEDED = "customer_limit_exceeded"
    SALE_NOT_STARTED = "sale_not_started"
    UNKNOWN_UOM = "unknown_uom"
    UNKNOWN_SKU = "unknown_sku"
    # The waitlist.
    WAITLISTED = "waitlisted"
    WAITLIST_EXPIRED = "waitlist_expired"
    # Stock: operators, goods receipt and issue, allocation of paid units, a sale's opening.
    STOCK_SET = "stock_set"
    CONFLICT = "conflict"
    RECEIVED = "received"
    ALLOCATED = "allocated"
    SHIPPED = "shipped"
    HANDOFF = "handoff"
    SALE_OPENED = "sale_opened"
    # Orders.
    ORDER_CREATED = "order_created"
    EMPTY_CART = "empty_cart"
    HOLDS_EXPIRED = "holds_expired"
    ORDER_EXPIRED = "order_expired"
    ORDER_CANCELLED = "order_cancelled"
    ORDER_UNITS_RETURNED = "order_units_returned"
    NOT_CANCELLABLE = "not_cancellable"
    # A product's ledger opens (``created``; ``opening_balance`` from migration 0008); a legacy sale.
    CREATED = "created"
    OPENING_BALANCE = "opening_balance"
    SOLD = "sold"
    # Nothing to do (a repeat, a hold already gone), a request no handler takes, the sweep.
    NOOP = "noop"
    REJECTED = "rejected"
    SWEPT = "swept"
    # Said by the lanes, not decided: still in line, or failed (see shop.lanes.views).
    QUEUED = "queued"
    ERROR = "error"


# A decided request's outcome: a JSON object whose "outcome" is an Outcome, with its details.
OutcomeDict = dict[str, Any]

# Orders whose units came back to their SKUs: the lanes hand them to the waitlist first.
UNITS_RETURNED = frozenset({Outcome.ORDER_EXPIRED, Outcome.ORDER_CANCELLED})


@dataclass(frozen=True)
class QueuedRequest:
    """One request taken from a lane, in line order."""

    request_id: str
    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    ticket: int | None = None


# The prefix of a SKU's lane name; defined once here, read by the lanes and the pages.
SKU_LANE_PREFIX = "sku:"
CHECKOUT_LANE_PREFIX = "checkout:"


def sku_lane(sku: str) -> str:
    """Name the line (RQ queue) that serialises one SKU's requests."""
    return SKU_LANE_PREFIX + sku


def lane_sku(lane: str) -> str | None:
    """Return the SKU a lane serialises, or None for a checkout or maintenance lane."""
    return lane[len(SKU_LANE_PREFIX) :] if lane.startswith(SKU_LANE_PREFIX) else None


def checkout_lane(cart_id: str, lanes: int) -> str:
    """Spread checkouts over a few lanes by cart, so one cart's requests stay in order."""
    digest = int(hashlib.sha256(cart_id.encode()).hexdigest()[:8], 16)
    return f"{CHECKOUT_LANE_PREFIX}{digest % max(lanes, 1)}"


def all_checkout_lanes(lanes: int) -> list[str]:
    """Every checkout lane ``checkout_lane`` can name."""
    return [f"{CHECKOUT_LANE_PREFIX}{n}" for n in range(max(lanes, 1))]


def plain_names(outcomes: Iterable[OutcomeDict]) -> None:
    """Store each outcome's name as a plain ``str`` as it leaves the domain.

    RQ pickles job results on the publishing hot path: an enum member goes through a reduce call
    there (several times the cost of pickle's string path), its value does not.
    """
    for outcome in outcomes:
        outcome["outcome"] = str(outcome["outcome"])


def rejected(reason: str) -> OutcomeDict:
    """The outcome of a request no handler of its lane takes."""
    return {"outcome": Outcome.REJECTED, "reason": reason}
