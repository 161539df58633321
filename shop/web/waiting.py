"""The waiting room as a shopper sees it: place in line, odds, a wait estimate, the outcome.

Read from the same job view the JSON API polls (one Redis round trip: position, the SKU's stock
snapshot, the line ahead, the apply rate). The database is read only to render the page itself
(the product's name and picture) and, once the request is decided, its outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rq.job import JobStatus

from shop.domain.catalog import CatalogQuery, get_product, list_products, product_view
from shop.domain.errors import NotFound
from shop.domain.odds import Eta, Odds
from shop.domain.requests import lane_sku
from shop.lanes.admission import UNKNOWN_JOB_MESSAGE
from shop.services import Services
from shop.storage.models import utcnow

# Outcomes after which the shopper is sent on at once rather than shown a result on the waiting page.
FORWARDED_OUTCOMES = frozenset({"order_created", "released"})
SIMILAR_LIMIT = 4
# While a line is paused nothing moves: the page asks again this rarely (its script backs off further).
PAUSED_POLL_MS = 5000
# Without JavaScript the page reloads itself, never more often than this.
NOSCRIPT_REFRESH_MIN_S = 5


@dataclass(frozen=True)
class Wait:
    """One request in line, as its shopper sees it."""

    job_id: str
    status: str
    ahead: int | None
    poll_after_ms: int
    rate: float | None
    result: dict[str, Any] | None
    product: dict[str, Any] | None
    sku: str | None = None
    odds: Odds | None = None
    eta: Eta | None = None
    # Waiting for a unit held in a cart to come back, and how many waitlist entries are ahead.
    waitlisted: bool = False
    waitlist_rank: int | None = None
    # Units held in carts and unpaid orders when the product was read (0 if it was not).
    held: int = 0
    # In a sale's pre-queue: seconds until the start, when the draw gives it a place.
    starts_in: int | None = None
    # The operator paused the SKU's line: requests keep their place, none is applied.
    paused: bool = False
    # The line the request is in (its consumer announces decisions there: shop.lanes.decisions).
    lane: str = ""

    @property
    def prequeued(self) -> bool:
        return self.starts_in is not None

    @property
    def line_paused(self) -> bool:
        """Waiting in a line that is paused (not on the waitlist, not before the sale's start)."""
        return self.paused and not self.finished and not self.waitlisted and not self.prequeued

    @property
    def refresh_seconds(self) -> int:
        """How often the page reloads itself without JavaScript: the server's pace, at least 5 s."""
        return max(NOSCRIPT_REFRESH_MIN_S, -(-self.poll_after_ms // 1000))

    @property
    def finished(self) -> bool:
        return self.status in (JobStatus.FINISHED, JobStatus.FAILED)

    @property
    def is_checkout(self) -> bool:
        return self.sku is None

    @property
    def place(self) -> int | None:
        """The shopper's number in line (or on the waitlist): 1 when nobody is ahead."""
        if self.waitlisted:
            return None if self.waitlist_rank is None else self.waitlist_rank + 1
        return None if self.ahead is None else self.ahead + 1

    @property
    def waitlist_until(self) -> datetime | None:
        """Until when a waitlisted request waits for a returned unit."""
        if not self.waitlisted or self.result is None or "expires_at" not in self.result:
            return None
        return datetime.fromisoformat(self.result["expires_at"])

    @property
    def serving_now(self) -> bool:
        return self.status == JobStatus.STARTED

    @property
    def outcome(self) -> str | None:
        """The result's outcome once finished ("error" when it failed or its result is gone)."""
        if not self.finished:
            return None
        if not isinstance(self.result, dict):
            return "error"
        return str(self.result.get("outcome", "error"))

    @property
    def units_left(self) -> int | None:
        """Units available now, from the stock snapshot (or the product, once it was read)."""
        if self.odds is not None:
            return self.odds.available
        return self.product["available"] if self.product else None


def find_wait(services: Services, cart_id: str, job_id: str, with_product: bool = True) -> Wait:
    """Describe a request to the cart that made it; anyone else (or a forgotten job) gets NotFound.

    ``with_product`` reads the product from the database (to render a page); the waiting page's
    polling leaves it out while the request waits, so polling never touches the database.
    """
    state = services.lanes.view(job_id)
    if state is None or not state.cart_id or state.cart_id != cart_id:
        raise NotFound(UNKNOWN_JOB_MESSAGE, code="unknown_job", retry=True)
    sku = lane_sku(state.lane)
    product = None
    held = 0
    if sku is not None and with_product:
        with services.db.reading() as session:
            row = get_product(session, sku)
            product = product_view(row) if row is not None else None
            held = row.reserved if row is not None else 0
    return Wait(
        job_id=job_id,
        status=state.status,
        ahead=state.position,
        poll_after_ms=max(PAUSED_POLL_MS, state.poll_after_ms) if state.paused else state.poll_after_ms,
        rate=state.rate,
        result=state.result if isinstance(state.result, dict) else None,
        product=product,
        sku=sku,
        odds=state.odds,
        eta=state.eta,
        waitlisted=state.waitlisted,
        waitlist_rank=state.waitlist_rank,
        held=held,
        starts_in=max(0, -(-(state.starts_in_ms or 0) // 1000)) if state.prequeued else None,
        paused=state.paused,
        lane=state.lane,
    )


def seconds_held(wait: Wait, now: datetime | None = None) -> int:
    """Seconds left on the hold a finished request made (0 if it made none)."""
    if wait.outcome != "held" or wait.result is None or "expires_at" not in wait.result:
        return 0
    expires_at = datetime.fromisoformat(wait.result["expires_at"])
    return max(0, int((expires_at - (now or utcnow())).total_seconds()))


def similar_products(services: Services, product: dict[str, Any], limit: int = SIMILAR_LIMIT) -> list[dict]:
    """Suggest best-selling items of the same category that can still be put in a cart."""
    query = CatalogQuery(limit=limit * 3, sort_by="sales", sort_dir="desc", category=product["category"])
    with services.db.reading() as session:
        items = list_products(session, query)["items"]
    return [p for p in items if p["sku"] != product["sku"] and p["available"] > 0][:limit]
