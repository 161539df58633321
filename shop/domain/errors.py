"""Exceptions that carry data, and the one JSON error shape of the API."""

from __future__ import annotations

from typing import Any


class ShopError(Exception):
    """A refusal the client can act on: an HTTP status, a stable code and a message."""

    status = 400
    code = "bad_request"

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


class BadRequest(ShopError):
    status = 400
    code = "bad_request"


class NotFound(ShopError):
    status = 404
    code = "not_found"


class Conflict(ShopError):
    status = 409
    code = "conflict"


class Unprocessable(ShopError):
    status = 422
    code = "unprocessable"


class UnsupportedMediaType(ShopError):
    """A JSON endpoint was sent a body that is not declared as JSON."""

    status = 415
    code = "unsupported_media_type"


class Unavailable(ShopError):
    """Redis or the database cannot be reached; the client should retry shortly."""

    status = 503
    code = "unavailable"


class UnknownSku(Unprocessable):
    code = "unknown_sku"

    def __init__(self, sku: str) -> None:
        super().__init__(f"No product with SKU {sku!r}.", sku=sku)


class StaleFence(Exception):
    """A consumer whose lease was taken over tried to apply; its transaction is refused."""

    def __init__(self, lane: str, token: int) -> None:
        super().__init__(f"fencing token {token} for {lane} is stale")
        self.lane = lane
        self.token = token


class OrderNotPayable(Conflict):
    """The order exists and is the caller's, but its state refuses payment."""
