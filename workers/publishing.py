"""Publishing a committed batch: every job's result and the follow-ups to schedule, in one call.

If that fails unexpectedly (not Redis being down), it is retried, then the results are published
in halves without finishing the batch, down to the one that cannot be, which is answered as
failed; then the batch finishes. What was committed stays either way: a hold still expires, on
schedule if its part was published, else by the sweeper.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shop.domain.effects import BatchEffects, Expiry
from shop.domain.requests import OutcomeDict, QueuedRequest
from shop.lanes.client import Lanes
from shop.lanes.lease import TakenRequest

log = logging.getLogger("shop.consumer")

# Each job's outcome, or the error that failed it (a FAILED job).
Results = dict[str, OutcomeDict | BaseException]

# How often a batch (or a part of it) that raised something unexpected is tried again before it is
# split in halves to find the request that fails.
UNEXPECTED_RETRIES = 1


class Publisher:
    """Publish one consumer's committed batches on the lanes it holds."""

    def __init__(
        self,
        lanes: Lanes,
        owner: str,
        lease_ms: int,
        inject_fault: Callable[[str, Sequence[QueuedRequest | None]], None],
    ) -> None:
        self.lanes = lanes
        self.owner = owner
        self.lease_ms = lease_ms
        self._inject_fault = inject_fault

    def publish(
        self, lane: str, taken: Sequence[TakenRequest], outcomes: Results, effects: BatchEffects
    ) -> None:
        """Publish a committed batch; if that fails unexpectedly, isolate the result that cannot be.

        Redis being unreachable propagates (the batch stays in flight; the next holder republishes
        it from the ledger). Anything else is retried, then the results are published in halves
        without finishing, down to one job, which is answered as failed; then the batch finishes.
        """
        error: BaseException | None = None
        for attempt in range(1 + UNEXPECTED_RETRIES):
            try:
                self._inject_fault("publish", [item.request for item in taken])
                self._send(lane, taken, outcomes, effects.expiries(), **_figures(effects, waitlist=True))
                return
            except (RedisConnectionError, RedisTimeoutError):
                raise
            except Exception as exc:
                error = exc
                log.warning("publishing %d on %s failed (try %d): %r", len(taken), lane, attempt + 1, exc)
        log.error("publishing a batch on %s failed: %r; publishing it in parts", lane, error)
        self._isolating(lane, taken, outcomes, effects)
        for extras in (True, False):
            try:
                expiries = effects.expiries(()) if extras else []
                self._send(lane, taken, {}, expiries, **_figures(effects, waitlist=extras))
                return
            except (RedisConnectionError, RedisTimeoutError):
                raise
            except Exception:
                # Waitlist results the database holds (and the sweeper expires) but Redis cannot show.
                log.exception("finishing a batch on %s failed (waitlist results included: %s)", lane, extras)

    def _isolating(
        self, lane: str, taken: Sequence[TakenRequest], outcomes: Results, effects: BatchEffects
    ) -> None:
        """Publish results in halves, in line order; a single one that fails is published as failed."""
        try:
            self._inject_fault("publish", [item.request for item in taken])
            expiries = effects.expiries([item.job_id for item in taken], waitlist=False)
            self._send(lane, taken, outcomes, expiries, seqs=effects.seqs, finish=False)
            return
        except (RedisConnectionError, RedisTimeoutError):
            raise
        except Exception as exc:
            if len(taken) > 1:
                middle = len(taken) // 2
                self._isolating(lane, taken[:middle], outcomes, effects)
                self._isolating(lane, taken[middle:], outcomes, effects)
                return
            item = taken[0]
            log.error(
                json.dumps(
                    {
                        "event": "publish_failed",
                        "lane": lane,
                        "job": item.job_id,
                        "ticket": item.request.ticket if item.request else None,
                        "error": repr(exc),
                    }
                ),
                exc_info=exc,
            )
            # What was committed stays (a hold still expires: on schedule if this works, else swept).
            expiries = effects.expiries([item.job_id], waitlist=False)
            outcomes[item.job_id] = exc
        for scheduled in (expiries, []):
            try:
                self._send(lane, [item], outcomes, scheduled, finish=False)
                return
            except (RedisConnectionError, RedisTimeoutError):
                raise
            except Exception:
                log.exception("could not mark job %s on %s failed", item.job_id, lane)

    def _send(
        self,
        lane: str,
        taken: Sequence[TakenRequest],
        outcomes: Results,
        expiries: Sequence[Expiry],
        **figures: Any,
    ) -> None:
        """Make one publishing call (shop.lanes.publish.Publisher.publish) as this lane's lease holder."""
        self.lanes.publish(lane, self.owner, taken, outcomes, self.lease_ms, expiries, **figures)


def _figures(effects: BatchEffects, waitlist: bool) -> dict[str, Any]:
    """What a batch publishes besides its results, its waitlist changes only if ``waitlist``."""
    return {
        "seqs": effects.seqs,
        "stock": effects.stock,
        "shopper_units": effects.shopper_units,
        "waitlist_joined": effects.waitlist_joined if waitlist else (),
        "waitlist_resolved": effects.waitlist_resolved if waitlist else (),
    }
