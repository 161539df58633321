"""The lane consumer: one process serves any number of lanes, but each lane has one consumer at a time.

Loop: wait for a ready lane, take its lease (and a fencing token), then drain it in batches: move up
to BATCH_SIZE job ids to the in-flight list, apply them in one transaction, publish all results in
one pipeline, repeat. A lane that stays busy is handed back after a time slice so other lanes get a
turn. A consumer that dies leaves its batch in the in-flight list; the next lease holder applies it
again, and the ledger turns the repeats into the outcomes already recorded.

Run with ``python -m workers.consumer`` (``--burst`` to exit when every lane is empty).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import time
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Worker
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from config import config_from_env
from shop.domain.errors import StaleFence
from shop.domain.inventory import BatchEffects, RequestKind, apply_stock_requests, sku_lane
from shop.domain.ledger import Outcome, QueuedRequest, issue_fence
from shop.domain.orders import CHECKOUT_LANE_PREFIX, UNITS_RETURNED, apply_order_requests
from shop.lanes import expiry, pausing
from shop.lanes import metrics as monitoring
from shop.lanes.queueing import LANE_PAUSED, TakenRequest
from shop.services import Services, build_services
from shop.storage.models import utcnow

log = logging.getLogger("shop.consumer")

# How long one lane may keep a consumer before it is handed back to the pool (seconds).
DRAIN_SLICE_S = 1.0
# How often a consumer re-announces lanes whose consumer died (seconds).
RESCUE_INTERVAL_S = 2.0
HEARTBEAT_INTERVAL_S = 10.0
MAX_BACKOFF_S = 5.0
# How often a batch (or a part of it) that raised something unexpected is tried again before it is
# split in halves to find the request that fails.
UNEXPECTED_RETRIES = 1


class InjectedFault(RuntimeError):
    """A fault the poison tests inject (see Consumer._inject_fault)."""


class _LaneLost(Exception):
    """Another consumer holds the lane now: stop working on it without publishing."""


class Consumer:
    def __init__(self, services: Services, name: str | None = None, batch_size: int | None = None) -> None:
        self.services = services
        self.lanes = services.lanes
        self.config = services.config
        self.name = name or f"shop-{self.config.HOST_ID}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.batch_size = max(1, batch_size or self.config.BATCH_SIZE)
        self.lease_ms = self.config.LEASE_TTL_MS
        self._stopping = False
        self._worker = Worker([], connection=services.redis, name=self.name)
        self._last_rescue = 0.0
        self._last_heartbeat = 0.0
        self._registered = False

    # --- the loop -----------------------------------------------------------------------------

    def run(self, burst: bool = False, idle_timeout: float = 1.0) -> int:
        """Serve lanes until stopped (or, in burst mode, until no lane has work); return jobs applied."""
        applied = 0
        self._register()
        try:
            while not self._stopping:
                self._housekeeping()
                try:
                    lane = self.lanes.next_ready(timeout=0.2 if burst else idle_timeout)
                    if lane is None:
                        if burst and self.lanes.rescue() == 0:
                            break
                        continue
                    applied += self.serve(lane)
                except (RedisConnectionError, RedisTimeoutError) as exc:
                    # Redis restarting: nothing is lost that the lease, the in-flight list and
                    # the ledger do not recover; wait and carry on rather than exit.
                    log.warning("redis unavailable: %s", exc)
                    time.sleep(1)
                    self._registered = False
        finally:
            self._unregister()
        return applied

    def stop(self, *_args: Any) -> None:
        self._stopping = True

    def serve(self, lane: str) -> int:
        """Drain one lane while holding its lease; return the number of requests applied."""
        # After a Redis restart the pause flag is gone: read it back from the database first.
        if not pausing.warm_lane(self.services, lane):
            return 0
        token = self.acquire(lane)
        if not token:
            return 0
        applied = 0
        started = time.monotonic()
        while not self._stopping:
            taken = self.lanes.take(lane, self.name, self.batch_size, self.lease_ms)
            if taken is LANE_PAUSED:
                self.lanes.release_paused(lane, self.name)
                return applied
            if taken is None:
                log.warning("lost the lease on %s", lane)
                return applied
            if not taken:
                state = self.lanes.release_if_idle(lane, self.name)
                if state == 0:
                    continue
                return applied
            began = time.monotonic()
            effects = BatchEffects()
            result = self._apply_batch(lane, token, taken, effects)
            if result is None:
                return applied
            outcomes, token = result
            self._publish(lane, taken, outcomes, effects)
            if effects.product_rules is not None:
                # What was committed, not what the operator's request said: the cache follows the database.
                max_per_cart, max_per_customer, starts, base_uom, uoms = effects.product_rules
                self.lanes.cache_product(
                    lane.removeprefix("sku:"),
                    max_per_cart,
                    max_per_customer=max_per_customer,
                    sale_starts_at=starts,
                    base_uom=base_uom,
                    uoms=uoms,
                )
            self._hand_off(taken, outcomes)
            elapsed = time.monotonic() - began
            self._record(lane, taken, outcomes, elapsed)
            applied += len(taken)
            if time.monotonic() - started > DRAIN_SLICE_S:
                self.lanes.yield_lane(lane, self.name)
                return applied
        self.lanes.yield_lane(lane, self.name)
        return applied

    def acquire(self, lane: str) -> int:
        """Take the lane's lease and a fencing token issued by the database; 0 if not ours now.

        The lease is Redis's; the token is the database's, so it keeps increasing when Redis
        restarts and forgets its counter while a stalled consumer still holds an older token.
        """
        if not self.lanes.acquire(lane, self.name, self.lease_ms):
            return 0
        try:
            with self.services.db.writing() as session:
                return issue_fence(session, lane)
        except DBAPIError as exc:
            log.warning("database unavailable issuing a fence for %s: %s", lane, exc)
            self.lanes.yield_lane(lane, self.name)
            time.sleep(1)
            return 0

    # --- applying -----------------------------------------------------------------------------

    def _apply_batch(
        self, lane: str, token: int, taken: Sequence[TakenRequest], effects: BatchEffects
    ) -> tuple[dict[str, Outcome | BaseException], int] | None:
        """Apply a batch in line order, isolating a request that fails; None if the lane was lost."""
        requests = [item.request for item in taken if item.request is not None]
        outcomes: dict[str, Outcome | BaseException] = {}
        if not requests:
            return outcomes, token
        try:
            token = self._apply_isolating(lane, token, requests, outcomes, effects)
        except _LaneLost:
            return None
        return outcomes, token

    def _apply_isolating(
        self,
        lane: str,
        token: int,
        requests: Sequence[QueuedRequest],
        outcomes: dict[str, Outcome | BaseException],
        effects: BatchEffects,
    ) -> int:
        """Apply requests in order; on an unexpected error retry, then split the batch in halves.

        Each half is its own transaction, applied in line order, so the requests before and after
        a poison request keep their order and their outcomes; the poison one, alone and failing
        again, is answered with its error (a FAILED job) and the lane carries on.
        """
        error: BaseException | None = None
        for attempt in range(1 + UNEXPECTED_RETRIES):
            part = BatchEffects()
            try:
                results, token = self._apply_retrying(lane, token, requests, part)
            except _LaneLost:
                raise
            except Exception as exc:
                error = exc
                log.warning("applying %d on %s failed (try %d): %r", len(requests), lane, attempt + 1, exc)
                continue
            outcomes.update({r.request_id: o for r, o in zip(requests, results, strict=True)})
            effects.merge(part)
            return token
        assert error is not None
        if len(requests) == 1:
            request = requests[0]
            log.error(
                json.dumps(
                    {
                        "event": "request_failed",
                        "lane": lane,
                        "job": request.request_id,
                        "ticket": request.ticket,
                        "kind": request.kind,
                        "error": repr(error),
                    }
                ),
                exc_info=error,
            )
            outcomes[request.request_id] = error
            return token
        middle = len(requests) // 2
        token = self._apply_isolating(lane, token, requests[:middle], outcomes, effects)
        return self._apply_isolating(lane, token, requests[middle:], outcomes, effects)

    def _apply_retrying(
        self, lane: str, token: int, requests: Sequence[QueuedRequest], effects: BatchEffects
    ) -> tuple[list[Outcome], int]:
        """Apply one transaction, riding out database outages and a forgotten fencing counter.

        Raises _LaneLost if another consumer holds the lane now; anything unexpected propagates.
        """
        delay = 0.1
        while True:
            try:
                return self._apply(lane, token, requests, effects), token
            except StaleFence:
                if not self.lanes.owns(lane, self.name):
                    log.warning("fenced out of %s (token %s); another consumer took over", lane, token)
                    raise _LaneLost(lane) from None
                # Still our lease, yet a newer token applied (a manual apply): take a newer one.
                with self.services.db.writing() as session:
                    token = issue_fence(session, lane)
            except DBAPIError as exc:
                retryable = isinstance(exc, OperationalError | InterfaceError) or exc.connection_invalidated
                if not retryable and not _transient(exc):
                    raise
                log.warning("database unavailable applying %s: %s; retrying in %.1fs", lane, exc, delay)
                time.sleep(delay)
                delay = min(MAX_BACKOFF_S, delay * 2)
                if not self.lanes.renew(lane, self.name, self.lease_ms):
                    raise _LaneLost(lane) from None

    # --- publishing ---------------------------------------------------------------------------

    def _publish(
        self,
        lane: str,
        taken: Sequence[TakenRequest],
        outcomes: dict[str, Outcome | BaseException],
        effects: BatchEffects,
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
                self.lanes.publish(
                    lane,
                    self.name,
                    taken,
                    outcomes,
                    self.lease_ms,
                    self._expiries(taken, outcomes, effects.waitlist_resolved),
                    seqs=effects.seqs,
                    stock=effects.stock,
                    shopper_units=effects.shopper_units,
                    waitlist_joined=effects.waitlist_joined,
                    waitlist_resolved=effects.waitlist_resolved,
                )
                return
            except (RedisConnectionError, RedisTimeoutError):
                raise
            except Exception as exc:
                error = exc
                log.warning("publishing %d on %s failed (try %d): %r", len(taken), lane, attempt + 1, exc)
        log.error("publishing a batch on %s failed: %r; publishing it in parts", lane, error)
        self._publish_isolating(lane, taken, outcomes, effects)
        resolved = effects.waitlist_resolved
        for extras in (True, False):
            try:
                self.lanes.publish(
                    lane,
                    self.name,
                    taken,
                    {},
                    self.lease_ms,
                    self._expiries((), {}, resolved) if extras else (),
                    seqs=effects.seqs,
                    stock=effects.stock,
                    shopper_units=effects.shopper_units,
                    waitlist_joined=effects.waitlist_joined if extras else (),
                    waitlist_resolved=resolved if extras else (),
                )
                return
            except (RedisConnectionError, RedisTimeoutError):
                raise
            except Exception:
                # Waitlist results the database holds (and the sweeper expires) but Redis cannot show.
                log.exception("finishing a batch on %s failed (waitlist results included: %s)", lane, extras)

    def _publish_isolating(
        self,
        lane: str,
        taken: Sequence[TakenRequest],
        outcomes: dict[str, Outcome | BaseException],
        effects: BatchEffects,
    ) -> None:
        """Publish results in halves, in line order; a single one that fails is published as failed."""
        try:
            self._inject_fault("publish", [item.request for item in taken])
            self.lanes.publish(
                lane,
                self.name,
                taken,
                outcomes,
                self.lease_ms,
                self._expiries(taken, outcomes),
                seqs=effects.seqs,
                finish=False,
            )
            return
        except (RedisConnectionError, RedisTimeoutError):
            raise
        except Exception as exc:
            if len(taken) > 1:
                middle = len(taken) // 2
                self._publish_isolating(lane, taken[:middle], outcomes, effects)
                self._publish_isolating(lane, taken[middle:], outcomes, effects)
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
            expiries = self._expiries([item], {item.job_id: outcomes[item.job_id]})
            outcomes[item.job_id] = exc
        for scheduled in (expiries, []):
            try:
                self.lanes.publish(lane, self.name, [item], outcomes, self.lease_ms, scheduled, finish=False)
                return
            except (RedisConnectionError, RedisTimeoutError):
                raise
            except Exception:
                log.exception("could not mark job %s on %s failed", item.job_id, lane)

    # --- applying (one transaction) -----------------------------------------------------------

    def _inject_fault(self, stage: str, requests: Sequence[QueuedRequest | None]) -> None:
        """Test hook: under the test config, a request marked ``test_fault: <stage>`` fails there.

        The web tier never sends the mark; the poison tests put such a request in line directly.
        """
        if not getattr(self.config, "TESTING", False):
            return
        for request in requests:
            if request is not None and request.params.get("test_fault") == stage:
                raise InjectedFault(f"injected {stage} fault in {request.request_id}")

    def _apply(
        self, lane: str, token: int, requests: Sequence[QueuedRequest], effects: BatchEffects
    ) -> list[Outcome]:
        self._inject_fault("apply", requests)
        config = self.config
        session = self.services.db.write_session()
        try:
            if lane.startswith("sku:"):
                return apply_stock_requests(
                    session,
                    lane[4:],
                    token,
                    requests,
                    timedelta(seconds=config.HOLD_TTL_SECONDS),
                    before_commit=self._before_commit,
                    effects=effects,
                    waitlist_ttl=timedelta(seconds=config.WAITLIST_TTL_SECONDS),
                )
            if lane.startswith(CHECKOUT_LANE_PREFIX):
                return apply_order_requests(
                    session, lane, token, requests, timedelta(seconds=config.PAYMENT_TTL_SECONDS)
                )
            if lane == expiry.MAINTENANCE_LANE:
                return [self._maintenance(r) for r in requests]
            return [{"outcome": "rejected", "reason": f"no consumer for lane {lane!r}"} for _ in requests]
        finally:
            session.close()

    def _before_commit(self) -> None:
        """Test hook: with APPLY_PAUSE_FILE present, stall inside the apply transaction (to be killed)."""
        marker = self.config.APPLY_PAUSE_FILE
        if not marker or not os.path.exists(marker):
            return
        with open(marker + ".reached", "w") as reached:
            reached.write(self.name)
        deadline = time.monotonic() + 60
        while os.path.exists(marker) and time.monotonic() < deadline:
            time.sleep(0.05)

    def _maintenance(self, request: QueuedRequest) -> Outcome:
        if request.kind == "sweep":
            counts = expiry.sweep(self.services.db, self.lanes, self.config.CHECKOUT_LANES)
            return {"outcome": "swept", **counts}
        return {"outcome": "rejected", "reason": f"unknown maintenance job {request.kind!r}"}

    def _hand_off(self, taken: Sequence[TakenRequest], outcomes: dict[str, Outcome | BaseException]) -> None:
        """Tell each SKU's line about units an expired order returned, once that is committed.

        The units are the SKU's again already; the hand-off request makes its consumer re-read the
        stock and the order's shoppers (and serve the SKU's waitlist) before anyone newer in line.
        A repeat (after a crash before this ran) has the same job id and is applied once.
        """
        for item in taken:
            outcome = outcomes.get(item.job_id)
            if not isinstance(outcome, dict) or outcome.get("outcome") not in UNITS_RETURNED:
                continue
            for sku in outcome.get("skus", []):
                params = {"sku": sku, "order_id": outcome["order_id"]}
                job_id = f"handoff-{outcome['order_id']}-{sku}"
                self.lanes.admit(sku_lane(sku), RequestKind.HANDOFF, params, job_id=job_id)

    def _expiries(
        self,
        taken: Sequence[TakenRequest],
        outcomes: dict[str, Outcome | BaseException],
        resolved: Sequence[Any] = (),
    ) -> list[tuple]:
        """Expiry jobs to schedule for the holds, orders and waitlist entries this batch created."""
        jobs = []
        for resolution in resolved:
            # A waitlist entry that became a hold: the hold expires like any other.
            outcome = resolution.outcome
            if outcome.get("outcome") == "held" and outcome.get("hold_id"):
                when = _parse_time(outcome["expires_at"])
                jobs.append(expiry.hold_expiry_job(outcome["hold_id"], outcome["sku"], when))
        for item in taken:
            outcome = outcomes.get(item.job_id)
            if not isinstance(outcome, dict) or item.request is None:
                continue
            if outcome.get("outcome") == "held" and outcome.get("hold_id"):
                when = _parse_time(outcome["expires_at"])
                jobs.append(expiry.hold_expiry_job(outcome["hold_id"], outcome["sku"], when))
            elif outcome.get("outcome") == "waitlisted":
                when = _parse_time(outcome["expires_at"])
                jobs.append(expiry.waitlist_expiry_job(item.job_id, outcome["sku"], when))
            elif outcome.get("outcome") == "order_created":
                when = _parse_time(outcome["pay_before"])
                cart_id = item.request.params["cart_id"]
                jobs.append(expiry.order_expiry_job(outcome["order_id"], cart_id, when))
        # One cart's several requests in a batch answer with the same hold: schedule its expiry once.
        return list({job[0]: job for job in jobs}.values())

    # --- bookkeeping --------------------------------------------------------------------------

    def _housekeeping(self) -> None:
        now = time.monotonic()
        try:
            if now - self._last_rescue > RESCUE_INTERVAL_S:
                self._last_rescue = now
                self.lanes.rescue()
            if now - self._last_heartbeat > HEARTBEAT_INTERVAL_S or not self._registered:
                self._last_heartbeat = now
                if not self._registered:
                    self._register()
                self._worker.heartbeat()
        except (RedisConnectionError, RedisTimeoutError) as exc:
            log.warning("redis unavailable during housekeeping: %s", exc)

    def _register(self) -> None:
        try:
            self._worker.register_birth()
            self._registered = True
        except ValueError:
            self._registered = True  # still registered from before a brief Redis outage
        except (RedisConnectionError, RedisTimeoutError) as exc:
            log.warning("could not register with RQ: %s", exc)

    def _unregister(self) -> None:
        try:
            self._worker.register_death()
        except (RedisConnectionError, RedisTimeoutError) as exc:
            log.warning("could not unregister from RQ: %s", exc)

    def _record(
        self,
        lane: str,
        taken: Sequence[TakenRequest],
        outcomes: dict[str, Outcome | BaseException],
        elapsed: float,
    ) -> None:
        """Feed the batch into the lane's metrics and log one JSON line per applied request."""
        now = utcnow()
        labels = [_label(outcomes.get(item.job_id)) for item in taken]
        waits = [(now - item.enqueued_at).total_seconds() for item in taken if item.enqueued_at]
        try:
            monitoring.record_batch(self.services.redis, lane, labels, waits, len(taken), elapsed)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            log.warning("could not record metrics: %s", exc)
        if not log.isEnabledFor(logging.INFO):
            return
        apply_ms = round(elapsed * 1000 / max(1, len(taken)), 3)
        for item, label in zip(taken, labels, strict=True):
            wait_ms = round((now - item.enqueued_at).total_seconds() * 1000, 1) if item.enqueued_at else None
            line = {
                "lane": lane,
                "sku": lane[4:] if lane.startswith("sku:") else None,
                "job": item.job_id,
                "ticket": item.request.ticket if item.request else None,
                "outcome": label,
                "wait_ms": wait_ms,
                "apply_ms": apply_ms,
                "worker": self.name,
            }
            log.info(json.dumps(line))


def _label(outcome: Outcome | BaseException | None) -> str:
    if isinstance(outcome, dict):
        return str(outcome.get("outcome", "unknown"))
    return "error" if outcome is not None else "missing"


def _transient(exc: DBAPIError) -> bool:
    """Deadlocks, serialization failures and lock timeouts are worth retrying as a whole batch."""
    text = str(exc.orig).lower() if exc.orig else ""
    return any(word in text for word in ("deadlock", "serializ", "lock", "could not connect", "closed"))


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve the shop's lanes (per-SKU queues).")
    parser.add_argument("--burst", action="store_true", help="exit when every lane is empty")
    parser.add_argument("--name", help="worker name shown in rq-dashboard")
    parser.add_argument("--batch-size", type=int, help="requests applied per transaction")
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "WARNING"), format="%(message)s", stream=sys.stdout)
    services = build_services(config_from_env())
    consumer = Consumer(services, name=args.name, batch_size=args.batch_size)
    signal.signal(signal.SIGTERM, consumer.stop)
    signal.signal(signal.SIGINT, consumer.stop)
    consumer.run(burst=args.burst)
    services.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
