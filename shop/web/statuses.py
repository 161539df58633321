"""The one table from the domain's errors to HTTP statuses: the web layer alone speaks HTTP.

``error_response`` (shop.web.helpers) answers API clients with it, the pages' error handler
(shop.web.pages) renders the page of the same status.
"""

from __future__ import annotations

from shop.domain.errors import (
    Conflict,
    Invalid,
    Malformed,
    NotAllowed,
    NotAuthenticated,
    NotFound,
    NotJson,
    RateLimited,
    ShopError,
    Unavailable,
)

STATUS_BY_ERROR: dict[type[ShopError], int] = {
    Malformed: 400,
    NotAuthenticated: 401,
    NotAllowed: 403,
    NotFound: 404,
    Conflict: 409,
    NotJson: 415,
    Invalid: 422,
    RateLimited: 429,
    Unavailable: 503,
}
# A refusal of no more particular class (e.g. a value the database could not store).
DEFAULT_STATUS = 400
# Statuses that tell the client when to come back.
RETRY_STATUSES = frozenset({429, 503})


def http_status(error: ShopError) -> int:
    """Return the HTTP status of a domain error: its nearest class in the table (subclasses inherit)."""
    for cls in type(error).__mro__:
        status = STATUS_BY_ERROR.get(cls)
        if status is not None:
            return status
    return DEFAULT_STATUS
