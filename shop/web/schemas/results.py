"""What applying a request in its line did: one model per outcome, told apart by ``outcome``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StrictInt, StrictStr

from shop.web.schemas.base import (
    Count,
    Moment,
    Money,
    OrderId,
    OrderNo,
    Positive,
    Response,
    Sku,
    Text,
    Uom,
    absent,
)


class Held(Response):
    outcome: Literal["held"]
    sku: Sku
    qty: Positive
    added: Annotated[StrictInt, Field(description="Units added to the line; negative when it was lowered.")]
    hold_id: Positive
    expires_at: Moment
    uom: Uom
    uom_qty: Count
    partial: Literal[True] = absent()
    requested: Positive = absent()


class UnknownUom(Response):
    outcome: Literal["unknown_uom"]
    sku: Sku
    uom: StrictStr | None


class SoldOut(Response):
    outcome: Literal["sold_out"]
    sku: Sku
    available: Literal[0]
    waitlist_expired: Literal[True] = absent()


class Insufficient(Response):
    outcome: Literal["insufficient"]
    sku: Sku
    available: Positive
    requested: Positive
    waitlist_expired: Literal[True] = absent()


class Waitlisted(Response):
    outcome: Literal["waitlisted"]
    sku: Sku
    qty: Positive
    waitlist_position: Count
    expires_at: Annotated[Moment, Field(description="Until when the entry waits for a returned unit.")]


class LimitExceeded(Response):
    outcome: Literal["limit_exceeded"]
    sku: Sku
    max_per_cart: Positive
    in_cart: Count


class CustomerLimitExceeded(Response):
    outcome: Literal["customer_limit_exceeded"]
    sku: Sku
    max_per_customer: Positive
    customer_has: Count


class SaleNotStarted(Response):
    outcome: Literal["sale_not_started"]
    sku: Sku
    sale_starts_at: Annotated[Moment, Field(description="When the sale starts.")]


class Released(Response):
    outcome: Literal["released"]
    sku: Sku
    qty: Literal[0]
    released: Count


class UnknownSkuResult(Response):
    outcome: Literal["unknown_sku"]
    sku: Sku


class Rejected(Response):
    outcome: Literal["rejected"]
    reason: Text


class OrderCreated(Response):
    outcome: Literal["order_created"]
    order_id: OrderId
    order_no: OrderNo
    total: Money
    pay_before: Moment
    missing: list[Sku]


class EmptyCart(Response):
    outcome: Literal["empty_cart"]


class HoldsExpired(Response):
    outcome: Literal["holds_expired"]
    missing: list[Sku]


class Failed(Response):
    outcome: Literal["error"]
    message: Text


JobResult = Annotated[
    Annotated[
        Held
        | UnknownUom
        | SoldOut
        | Insufficient
        | Waitlisted
        | LimitExceeded
        | CustomerLimitExceeded
        | SaleNotStarted
        | Released
        | UnknownSkuResult
        | Rejected
        | OrderCreated
        | EmptyCart
        | HoldsExpired
        | Failed,
        Field(discriminator="outcome"),
    ]
    | None,
    Field(description="What applying the request did; `null` until it is applied."),
]
