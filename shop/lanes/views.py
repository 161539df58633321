"""What the lanes tell about a request: its admission, its job's state while it waits, its receipt.

Plain values read from Redis in one round trip each (shop.lanes.door); the web layer turns them into
JSON and pages. Position, odds, wait estimate and polling interval are derived here, so every view
of a job says the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rq.job import JobStatus

from shop.domain.odds import Eta, Odds, estimate_wait, line_odds, prequeue_odds, waitlist_odds
from shop.domain.requests import SKU_LANE_PREFIX

# Polling: at most once per FASTEST_POLL_MS, at least once per MAX_POLL_MS; without a measured rate
# the interval grows from MIN_POLL_MS by POLL_MS_PER_POSITION per request ahead.
MIN_POLL_MS = 500
FASTEST_POLL_MS = 200
MAX_POLL_MS = 10_000
POLL_MS_PER_POSITION = 20
# A waitlisted request changes only when units come back: its shopper polls at a calm pace.
WAITLIST_POLL_MS = 3000
# The statuses the API shows besides RQ's: decided sold out but waiting for a returned unit, and
# waiting for a sale's start (no ticket yet).
WAITLISTED = "waitlisted"
PREQUEUE = "prequeue"
# What a shopper is told about a request that failed (FAILED in RQ): true whether it failed
# before its change was committed or while its result was being published.
FAILED_MESSAGE = "The request could not be completed. Check your cart before sending it again."
# The job-hash fields a receipt reads, in Receipt's order.
RECEIPT_FIELDS = (
    "status",
    "shop_cart",
    "shop_lane",
    "shop_ticket",
    "shop_joined",
    "enqueued_at",
    "ended_at",
    "shop_seq",
)


def stock_snapshot(available: bytes | str, held: bytes | str) -> tuple[int, int] | None:
    """Read the SKU's stock snapshot as Redis returned it (None if none was written yet)."""
    if available in (b"", "", None) or held in (b"", "", None):
        return None
    return int(available), int(held)


@dataclass(frozen=True)
class Admission:
    """What the shopper is told the moment their request is in line (or in a sale's pre-queue)."""

    job_id: str
    lane: str
    ticket: int | None
    position: int | None
    odds: Odds | None = None
    eta: Eta | None = None
    # In the pre-queue: milliseconds until the sale starts (and the draw gives it a place).
    starts_in_ms: int | None = None

    @property
    def status(self) -> str:
        return PREQUEUE if self.starts_in_ms is not None else JobStatus.QUEUED


@dataclass(frozen=True)
class JobState:
    """A job as its shopper polls it: RQ's status, the lane's figures, and the result once decided."""

    job_id: str
    status: str
    lane: str
    cart_id: str
    ticket: int | None
    serving: int
    result: Any
    rate: float | None
    # The quantity asked for ahead of this request when it joined, and by it (shop.domain.odds).
    ahead_before: int | None = None
    demand: int = 0
    served: int = 0
    stock: tuple[int, int] | None = None
    paused: bool = False
    # Waitlist entries ahead of this one (0: the next returned unit is theirs); None if not waitlisted.
    waitlist_rank: int | None = None
    # In a sale's pre-queue: milliseconds to the start, and the quantity the whole pre-queue asks for.
    starts_in_ms: int | None = None
    prequeue_demand: int = 0

    @property
    def prequeued(self) -> bool:
        return self.starts_in_ms is not None and self.status == JobStatus.QUEUED

    @property
    def waiting(self) -> bool:
        return self.status in (JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED)

    @property
    def waitlisted(self) -> bool:
        """Decided sold out for now, but waiting for a unit held in a cart to come back."""
        return self.status == JobStatus.DEFERRED and self.lane.startswith(SKU_LANE_PREFIX)

    @property
    def shown_status(self) -> str:
        """The status the API shows: RQ's, with ``waitlisted`` and ``prequeue`` for the shop's waits."""
        if self.prequeued:
            return PREQUEUE
        return WAITLISTED if self.waitlisted else self.status

    @property
    def odds(self) -> Odds | None:
        """Units available and held, and the verdict from the line ahead; None once decided."""
        if not self.waiting or not self.lane.startswith(SKU_LANE_PREFIX):
            return None
        if self.waitlisted:
            return waitlist_odds(self.stock)
        if self.prequeued:
            return prequeue_odds(self.stock, self.prequeue_demand)
        return line_odds(self.stock, self.ahead_before, self.served, self.demand)

    @property
    def eta(self) -> Eta | None:
        """The wait estimate from the lane's apply rate; None once decided, waitlisted or paused."""
        if not self.waiting or self.paused or self.waitlisted or self.prequeued:
            return None
        return estimate_wait(self.position, self.rate)

    @property
    def position(self) -> int | None:
        """Requests of the same lane ahead of this one: O(1) from the ticket and now-serving."""
        if self.status == JobStatus.STARTED:
            return 0
        if self.status in (JobStatus.QUEUED, JobStatus.SCHEDULED):
            if self.ticket is None:
                return None
            return max(0, self.ticket - self.serving - 1)
        return None

    @property
    def poll_after_ms(self) -> int:
        """Poll about twice per expected wait: soon near the front, rarely far back.

        The lane's measured apply rate gives the expected wait; without one (a new lane) the
        interval grows with the position instead. Either way the line's polling stays affordable.
        """
        if self.waitlisted:
            return WAITLIST_POLL_MS
        position = self.position
        if position is None:
            return MIN_POLL_MS
        if self.rate:
            expected_ms = (position + 1) / self.rate * 1000
            return int(min(MAX_POLL_MS, max(FASTEST_POLL_MS, expected_ms / 2)))
        return min(MAX_POLL_MS, MIN_POLL_MS + POLL_MS_PER_POSITION * position)


@dataclass(frozen=True)
class Receipt:
    """What happened to one request, from its job in Redis (kept as long as its result)."""

    job_id: str
    status: str
    cart_id: str
    lane: str
    ticket: int | None
    position_when_joined: int | None
    enqueued_at: datetime | None
    applied_at: datetime | None
    ledger_seq: int | None
    result: Any
