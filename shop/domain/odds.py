"""Honest odds and a wait estimate for a request in a SKU's line, from figures Redis already holds.

Everything here is arithmetic on counters the admit script and the consumer keep per lane, so the
job view stays one Redis round trip and never asks the database:

* requested ahead: the quantity asked for by the requests still ahead of this one, from the lane's
  cumulative "requested" counter (issued with the ticket) minus its "served" counter (advanced by
  the consumer with now-serving);
* available and held: the SKU's stock snapshot the consumer writes after every batch (held counts
  units in carts and in unpaid orders: both may come back);
* the apply rate: the consumer's moving average of requests applied per second.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Any

# The estimate is a range around (place in line / apply rate): batches, other lanes sharing the
# consumers and pick-up latency make the real wait vary, more often longer than shorter.
ETA_LOW_FACTOR = 0.75
ETA_HIGH_FACTOR = 1.5


class Verdict(enum.StrEnum):
    LIKELY = "likely"  # enough units are available now for everyone ahead, and for you
    UNCERTAIN = "uncertain"  # only if units held in carts or unpaid orders come back
    UNLIKELY = "unlikely"  # more is asked for ahead of you than exists, even counting returns


@dataclass(frozen=True)
class Odds:
    """What a shopper in line is told about their chances."""

    available: int
    held: int
    requested_ahead: int | None
    verdict: Verdict | None
    # The request already is a waitlist entry (it found the SKU sold out and chose to wait).
    waitlisted: bool = False

    @property
    def waitlist(self) -> bool:
        """True when the shopper is on the waitlist: already, or because the line ahead wants it all."""
        return self.waitlisted or self.verdict == Verdict.UNLIKELY

    def to_dict(self) -> dict[str, Any]:
        return {
            "available": self.available,
            "held": self.held,
            "requested_ahead": self.requested_ahead,
            "verdict": str(self.verdict) if self.verdict else None,
            "waitlist": self.waitlist,
        }


@dataclass(frozen=True)
class Eta:
    """A wait estimate in whole seconds, as a range."""

    low: int
    high: int

    def to_dict(self) -> dict[str, int]:
        return {"low": self.low, "high": self.high}


def judge(available: int, held: int, requested_ahead: int, demand: int) -> Verdict:
    """Say how likely a request for ``demand`` units is to be served, given the line ahead of it."""
    needed = requested_ahead + max(demand, 1)
    if needed <= available:
        return Verdict.LIKELY
    if needed <= available + held:
        return Verdict.UNCERTAIN
    return Verdict.UNLIKELY


def line_odds(
    stock: tuple[int, int] | None, ahead_before: int | None, served: int, demand: int
) -> Odds | None:
    """Odds for a request in line: None when the SKU's stock snapshot is not known yet."""
    if stock is None:
        return None
    available, held = stock
    if ahead_before is None:
        return Odds(available, held, None, None)
    requested_ahead = max(0, ahead_before - served)
    return Odds(available, held, requested_ahead, judge(available, held, requested_ahead, demand))


def waitlist_odds(stock: tuple[int, int] | None) -> Odds | None:
    """Odds for a waitlist entry: it gets a unit only if one held in a cart comes back."""
    if stock is None:
        return None
    available, held = stock
    return Odds(available, held, None, Verdict.UNCERTAIN if held else Verdict.UNLIKELY, waitlisted=True)


def prequeue_odds(stock: tuple[int, int] | None, prequeue_demand: int) -> Odds | None:
    """Odds before a sale starts: certain if the pre-queue asks for no more than there is, else a draw."""
    if stock is None:
        return None
    available, held = stock
    verdict = Verdict.LIKELY if prequeue_demand <= available else Verdict.UNCERTAIN
    return Odds(available, held, None, verdict)


def estimate_wait(position: int | None, rate: float | None) -> Eta | None:
    """Estimate the wait for the request at ``position`` (0: next) from the lane's apply rate."""
    if position is None or not rate or rate <= 0:
        return None
    seconds = (position + 1) / rate
    low = math.floor(seconds * ETA_LOW_FACTOR)
    high = max(low + 1, math.ceil(seconds * ETA_HIGH_FACTOR))
    return Eta(low, high)
