"""Every exception of the shop, each saying what happened and carrying its data.

None knows HTTP: the web layer alone maps each class to a status (shop.web.statuses). A
``ShopError`` is a refusal the client can act on, with a stable code and a message; the others
are signals between the shop's own parts.
"""

from __future__ import annotations

from typing import Any


class ShopError(Exception):
    """A refusal the client can act on: a stable code, a message and the details behind it."""

    code = "bad_request"

    def __init_subclass__(cls, code: str = "", **kwargs: Any) -> None:
        """Let each kind of refusal name its default code where it is declared."""
        super().__init_subclass__(**kwargs)
        if code:
            cls.code = code

    def __init__(self, message: str, *, code: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return {"error": body}


class Malformed(ShopError, code="bad_request"):
    """The request cannot be read: a part is missing or of the wrong type or shape."""


class Invalid(ShopError, code="unprocessable"):
    """The request is well formed, but a value in it breaks a rule (a range, a unit, a total)."""


class NotFound(ShopError, code="not_found"):
    """Nothing the caller may see goes by that name (another cart's order included)."""


class Conflict(ShopError, code="conflict"):
    """The thing exists, but its current state refuses the change."""


class NotJson(ShopError, code="unsupported_media_type"):
    """A JSON endpoint was sent a body that is not declared as JSON."""


class Unavailable(ShopError, code="unavailable"):
    """Redis or the database cannot be reached; the client should retry shortly."""


class RateLimited(ShopError, code="rate_limited"):
    """The client sent more requests than its limit allows; it should slow down."""


class NotAuthenticated(ShopError, code="unauthorized"):
    """An operator route was asked for without valid operator credentials."""


class NotAllowed(ShopError, code="forbidden"):
    """The caller may not do this at all (a cross-site operator request, a change by GET)."""


class UnknownSku(Invalid, code="unknown_sku"):
    """No product has this SKU (or the text cannot be one)."""

    def __init__(self, sku: str) -> None:
        super().__init__(f"No product with SKU {sku!r}.", sku=sku)


class OrderNotPayable(Conflict):
    """The order exists and is the caller's, but its state refuses payment."""


class StaleFence(Exception):
    """A consumer whose lease was taken over tried to apply; its transaction is refused."""

    def __init__(self, lane: str, token: int) -> None:
        super().__init__(f"fencing token {token} for {lane} is stale")
        self.lane = lane
        self.token = token


class GatewayError(Exception):
    """The card processor could not be reached or gave no answer; the charge may or may not exist."""


# What the admission script, reading the product cache in Redis, refuses before a request is queued.


class UnknownProduct(Exception):
    """The product cache in Redis does not know the SKU (it may be cold after a restart)."""


class UnknownUnit(Exception):
    """The product (as cached) is not sold in this unit of measure."""

    def __init__(self, sku: str, uom: str) -> None:
        super().__init__(sku, uom)
        self.sku = sku
        self.uom = uom


class OverLimit(Exception):
    """The cart's line would hold more than the product's per-cart limit."""

    def __init__(self, max_per_cart: int) -> None:
        super().__init__(max_per_cart)
        self.max_per_cart = max_per_cart


class OverCustomerLimit(Exception):
    """The shopper's units (held, ordered, sold or in line) would exceed the per-customer limit."""

    def __init__(self, max_per_customer: int, customer_has: int) -> None:
        super().__init__(max_per_customer, customer_has)
        self.max_per_customer = max_per_customer
        self.customer_has = customer_has
