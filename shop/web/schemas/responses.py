"""What the API answers, as typed models: the views serialise every JSON answer through one of them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StrictBool, StrictStr

from shop.domain.catalog import COUNT_CAP, MAX_LIMIT
from shop.domain.orders import MAX_NOTES
from shop.lanes.fulfilment import MOVEMENTS_MAX_LIMIT
from shop.lanes.views import FASTEST_POLL_MS, MAX_POLL_MS
from shop.web.board_paging import MAX_LIMIT as BOARD_MAX_LIMIT
from shop.web.board_paging import SORTS as BOARD_SORTS
from shop.web.schemas.base import (
    CartToken,
    Count,
    JobId,
    Location,
    Moment,
    Money,
    Number,
    OrderId,
    OrderNo,
    Percent,
    Positive,
    Response,
    Sku,
    Text,
    Uom,
)
from shop.web.schemas.results import JobResult

NullableCount = Count | None
NullableMoment = Moment | None
SaleCountdown = Annotated[
    NullableCount,
    Field(description="In the pre-queue: seconds until the sale starts (0: starting now); null otherwise."),
]


class ErrorBody(Response):
    code: Annotated[Text, Field(description="Stable, machine-readable.")]
    message: Text
    details: Annotated[dict[str, Any], Field(description="Facts about the refusal, by code.")] = {}


class Error(Response):
    """Every refusal: a stable code, a message and, by code, facts about it."""

    error: ErrorBody


class Unit(Response):
    uom: Uom
    conversion: Positive


class Product(Response):
    sku: Sku
    name: Text
    description: Text
    category: Text
    price: Annotated[Money, Field(description="What a shopper pays now: the flash price while a sale runs.")]
    normal_price: Annotated[Money, Field(description="The struck-through normal price.")]
    discount_pct: Annotated[Percent, Field(description="Whole percent off normal_price (rounded down).")]
    currency: Literal["IDR"]
    image: Text
    available: Annotated[
        Count, Field(description="Σ over locations of on_hand - reserved - allocated: what can be held now.")
    ]
    sales: Count
    max_per_cart: Positive
    max_per_customer: Annotated[
        Positive | None,
        Field(description="Units one shopper may hold, order and buy across all carts; null: no limit."),
    ]
    sale_starts_at: Annotated[
        NullableMoment, Field(description="Requests before it wait in a pre-queue, ordered by a seeded draw.")
    ]
    sale_ends_at: Annotated[NullableMoment, Field(description="After it the normal price applies again.")]
    base_uom: Uom
    uoms: Annotated[
        list[Unit], Field(description="The units the product is sold in, base unit first (conversion 1).")
    ]


class CatalogPage(Response):
    items: Annotated[list[Product], Field(max_length=MAX_LIMIT)]
    page: Positive
    limit: Annotated[Positive, Field(le=MAX_LIMIT)]
    total: Annotated[Count, Field(le=COUNT_CAP, description=f"Exact up to {COUNT_CAP}; beyond, capped.")]
    total_is_lower_bound: Annotated[
        StrictBool,
        Field(description=f"true when more than {COUNT_CAP} products match: total is then a floor."),
    ]
    pages: Count
    next_cursor: Annotated[
        StrictStr | None, Field(description="Pass as `cursor` for the next page; null on the last page.")
    ]


class OddsFigures(Response):
    available: Count
    held: Count
    requested_ahead: NullableCount
    verdict: Literal["likely", "uncertain", "unlikely"] | None
    waitlist: StrictBool


Odds = Annotated[
    OddsFigures | None,
    Field(
        description="For a request in a SKU's line until it is decided (`null` otherwise, or before the "
        "SKU's first stock figures are known): units available now, units held in carts and unpaid "
        "orders (they may come back), the quantity asked for by the requests ahead, and a verdict from "
        "that line: `likely` (enough available for everyone ahead and you), `uncertain` (only if held "
        "units come back), `unlikely` (more is asked for ahead than available plus held). `waitlist` is "
        "true with `unlikely`: you are on the waitlist, not about to get the item."
    ),
]


class EtaRange(Response):
    low: Count
    high: Positive


Eta = Annotated[
    EtaRange | None,
    Field(
        description="Estimated wait in seconds, as a range, from the line's measured apply rate; `null` "
        "once decided, while the rate is unknown or the line is paused."
    ),
]


class Admission(Response):
    job_id: JobId
    status: Annotated[
        Literal["queued", "prequeue"],
        Field(
            description="`prequeue`: the sale has not started; at its start a seeded draw gives every "
            "pre-queued request its place."
        ),
    ]
    position: Annotated[
        NullableCount,
        Field(description="Requests for the same line ahead of this one; null in the pre-queue."),
    ]
    ticket: NullableCount
    sale_starts_in_seconds: SaleCountdown
    odds: Odds
    eta_seconds: Eta
    status_url: Text
    cart_token: CartToken


class CartLine(Response):
    sku: Sku
    name: Text
    qty: Annotated[Positive, Field(description="Base units.")]
    uom: Uom
    uom_qty: Count
    unit_price: Annotated[Money, Field(description="Paid per base unit (fixed at hold time).")]
    normal_price: Money
    discount_pct: Percent
    line_total: Money
    status: Literal["held", "expired"]
    expires_at: Moment
    seconds_left: Count


class OpenOrder(Response):
    order_id: OrderId
    order_no: OrderNo
    total: Money
    pay_before: Moment


class CartView(Response):
    items: list[CartLine]
    total: Money
    currency: Literal["IDR"]
    open_orders: list[OpenOrder]
    cart_token: CartToken
    pending_jobs: list[JobId]


class Job(Response):
    job_id: JobId
    status: Annotated[
        Literal["queued", "started", "finished", "failed", "waitlisted", "prequeue"],
        Field(
            description="`waitlisted`: sold out for now, waiting for a unit held in a cart to come back; "
            "the job then finishes as `held` or `sold_out`. `prequeue`: waiting for the sale to start, "
            "when a seeded draw gives it its place in line."
        ),
    ]
    position: Annotated[
        NullableCount, Field(description="Requests ahead in the same line; 0 while applied, null when done.")
    ]
    waitlist_position: Annotated[
        NullableCount,
        Field(
            description="While waitlisted: entries ahead of this one (0: the next returned unit that fits "
            "is yours)."
        ),
    ]
    sale_starts_in_seconds: SaleCountdown
    poll_after_ms: Annotated[
        Count, Field(ge=FASTEST_POLL_MS, le=MAX_POLL_MS, description="Wait this long before polling again.")
    ]
    odds: Odds
    eta_seconds: Eta
    result: JobResult


class Receipt(Response):
    job_id: JobId
    sku: Annotated[StrictStr | None, Field(description="The SKU, for a request in a SKU's line.")]
    lane: Annotated[Text, Field(description="The line the request waited in (`sku:<SKU>`, `checkout:N`).")]
    ticket: Annotated[NullableCount, Field(description="The request's ticket in its line.")]
    position_when_joined: Annotated[
        NullableCount, Field(description="Requests ahead of it in the same line when it joined.")
    ]
    enqueued_at: NullableMoment
    applied_at: Annotated[NullableMoment, Field(description="When its outcome was published.")]
    outcome: JobResult
    ledger_seq: Annotated[
        NullableCount, Field(description="Its entry in the SKU's ledger, which the audit replays.")
    ]


class Payment(Response):
    payment_id: Annotated[StrictStr, Field(pattern=r"^pay_[0-9a-f]{24}$")]
    order_id: OrderId
    status: Literal["paid", "declined", "refunded", "processing"]
    amount: Money


class OrderLine(Response):
    sku: Sku
    name: Text
    qty: Annotated[Positive, Field(description="Base units.")]
    uom: Uom
    uom_qty: Annotated[Count, Field(description="The quantity as entered, in `uom`.")]
    unit_price: Annotated[Money, Field(description="The normal price of one base unit.")]
    disc_pct: Percent
    disc_amt: Money
    net_amt: Annotated[Money, Field(description="What the line costs: qty x unit_price - disc_amt.")]
    line_total: Annotated[Money, Field(description="= net_amt.")]
    shipped_at: NullableMoment


class Order(Response):
    order_id: OrderId
    order_no: OrderNo
    order_date: Moment
    notes: Annotated[StrictStr, Field(max_length=MAX_NOTES)] | None
    status: Literal["pending_payment", "paid", "shipped", "expired", "cancelled"]
    deleted_at: Annotated[NullableMoment, Field(description="Set when an operator cancelled the order.")]
    total: Annotated[Money, Field(description="Σ of the lines' net_amt.")]
    currency: Literal["IDR"]
    pay_before: Moment
    seconds_left: Count
    lines: list[OrderLine]


class Health(Response):
    status: Literal["ok"]


class ReadinessChecks(Response):
    redis: Annotated[Text, Field(description="`ok` or `error: <type>`.")]
    database: Annotated[Text, Field(description="`ok` or `error: <type>`.")]


class Readiness(Response):
    status: Literal["ready", "not_ready"]
    checks: ReadinessChecks


class StockOutcome(Response):
    """The request's outcome in the SKU's line, or `queued` with its job if the line is longer than
    ADMIN_WAIT_SECONDS."""

    model_config = ConfigDict(extra="allow")

    outcome: Text


class Movement(Response):
    id: Positive
    location: Location
    movement_type: Literal["IN", "OUT"]
    doc_type: Literal["GR", "GI", "ADJ"]
    doc_ref: Text
    qty: Annotated[Positive, Field(description="Base units.")]
    original_qty: Count
    original_uom: Uom
    conversion: Positive
    created_at: Moment


class Movements(Response):
    sku: Sku
    items: list[Movement]
    page: Positive
    limit: Annotated[Positive, Field(le=MOVEMENTS_MAX_LIMIT)]
    total: Count
    pages: Count


class LocationRow(Response):
    location: Location
    priority: Count
    on_hand: Count
    reserved: Count
    allocated: Count
    available: Count


class LocationStock(Response):
    sku: Sku
    available: Count
    locations: list[LocationRow]


class Shipment(Response):
    order_no: OrderNo
    shipments: list[StockOutcome]
    order: Order


class Cancellation(Response):
    order_no: OrderNo
    cancellation: StockOutcome
    order: Order


class StockSet(Response):
    outcome: Literal["stock_set"]
    sku: Sku
    on_hand: Count
    reserved: Count
    allocated: Count
    available: Count
    location: Location


class StockQueued(Response):
    outcome: Literal["queued"]
    job_id: JobId
    position: Count


class StockFailed(Response):
    outcome: Literal["error"]
    message: Text


StockChange = Annotated[
    Annotated[StockSet | StockQueued | StockFailed, Field(discriminator="outcome")] | None,
    Field(description="The stock change's outcome in the SKU's line; `null` when `on_hand` was not changed."),
]


class OperatorProduct(Product):
    stock: list[LocationRow]
    stock_change: StockChange


class LaneSample(Response):
    at: Count
    queue: Count
    available: Count


class BoardRow(Response):
    sku: Sku
    name: Text
    on_hand: Count
    reserved: Count
    allocated: Count
    available: Count
    locations: list[LocationRow]
    sales: Count
    expiring_next_minute: Count
    queue_length: Count
    last_ticket: Count
    now_serving: Count
    lease_holder: StrictStr | None
    paused: StrictBool
    applied_per_second: Number
    history: list[LaneSample]


class SaleBoard(Response):
    skus: Annotated[list[BoardRow], Field(max_length=BOARD_MAX_LIMIT)]
    next_cursor: Annotated[
        StrictStr | None, Field(description="Send as `cursor` for the next page; null on the last page.")
    ]
    limit: Annotated[Positive, Field(le=BOARD_MAX_LIMIT)]
    sortBy: Literal[BOARD_SORTS]  # type: ignore[valid-type]


class PauseState(Response):
    sku: Sku
    paused: StrictBool


class AuditCounts(Response):
    products: Count
    locations: Count
    holds: Count
    orders: Count
    ledger_entries: Count


class AuditReport(Response):
    ok: StrictBool
    checked: AuditCounts
    violations: list[StrictStr]
