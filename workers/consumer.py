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
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Worker
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from config import config_from_env
from shop.domain.batches import BatchSettings, apply_batch
from shop.domain.effects import BatchEffects
from shop.domain.errors import StaleFence
from shop.domain.ledger import issue_fence
from shop.domain.requests import Outcome, OutcomeDict, QueuedRequest, lane_sku, rejected
from shop.lanes import expiry, pausing
from shop.lanes import metrics as monitoring
from shop.lanes.lease import LANE_PAUSED, TakenRequest
from shop.services import Services, build_services
from shop.storage.models import utcnow
from workers.publishing import UNEXPECTED_RETRIES, Publisher

log = logging.getLogger("shop.consumer")

# How long one lane may keep a consumer before it is handed back to the pool (seconds).
DRAIN_SLICE_S = 1.0
# How often a consumer re-announces lanes whose consumer died (seconds).
RESCUE_INTERVAL_S = 2.0
HEARTBEAT_INTERVAL_S = 10.0
MAX_BACKOFF_S = 5.0


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
        self.settings = BatchSettings.from_config(self.config)
        self.publisher = Publisher(self.lanes, self.name, self.lease_ms, self._inject_fault)
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
            self.publisher.publish(lane, taken, outcomes, effects)
            if effects.product_rules is not None:
                # What was committed, not what the operator's request said: the cache follows the database.
                max_per_cart, max_per_customer, starts, base_uom, uoms = effects.product_rules
                self.lanes.cache_product(
                    lane_sku(lane) or lane,
                    max_per_cart,
                    max_per_customer=max_per_customer,
                    sale_starts_at=starts,
                    base_uom=base_uom,
                    uoms=uoms,
                )
            self._hand_off(effects)
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
    ) -> tuple[dict[str, OutcomeDict | BaseException], int] | None:
        """Apply a batch in line order, isolating a request that fails; None if the lane was lost."""
        requests = [item.request for item in taken if item.request is not None]
        outcomes: dict[str, OutcomeDict | BaseException] = {}
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
        outcomes: dict[str, OutcomeDict | BaseException],
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
    ) -> tuple[list[OutcomeDict], int]:
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
    ) -> list[OutcomeDict]:
        """Apply one transaction: the maintenance lane here, every other lane by the domain's dispatcher."""
        self._inject_fault("apply", requests)
        if lane == expiry.MAINTENANCE_LANE:
            return [self._maintenance(r) for r in requests]
        session = self.services.db.write_session()
        try:
            return apply_batch(
                session, lane, token, requests, self.settings, effects, before_commit=self._before_commit
            )
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

    def _maintenance(self, request: QueuedRequest) -> OutcomeDict:
        if request.kind == "sweep":
            counts = expiry.sweep(self.services.db, self.lanes, self.config.CHECKOUT_LANES)
            return {"outcome": Outcome.SWEPT, **counts}
        return rejected(f"unknown maintenance job {request.kind!r}")

    def _hand_off(self, effects: BatchEffects) -> None:
        """Queue the hand-offs the batch called for (units an expired order returned), once committed.

        The units are the SKU's again already; the hand-off request makes its consumer re-read the
        stock and the order's shoppers (and serve the SKU's waitlist) before anyone newer in line.
        A repeat (after a crash before this ran) has the same job id and is applied once.
        """
        for handoff in effects.handoffs:
            self.lanes.admit(handoff.lane, handoff.kind, handoff.params, job_id=handoff.job_id)

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
        outcomes: dict[str, OutcomeDict | BaseException],
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
                "sku": lane_sku(lane),
                "job": item.job_id,
                "ticket": item.request.ticket if item.request else None,
                "outcome": label,
                "wait_ms": wait_ms,
                "apply_ms": apply_ms,
                "worker": self.name,
            }
            log.info(json.dumps(line))


def _label(outcome: OutcomeDict | BaseException | None) -> str:
    if isinstance(outcome, dict):
        return str(outcome.get("outcome", "unknown"))
    return "error" if outcome is not None else "missing"


def _transient(exc: DBAPIError) -> bool:
    """Deadlocks, serialization failures and lock timeouts are worth retrying as a whole batch."""
    text = str(exc.orig).lower() if exc.orig else ""
    return any(word in text for word in ("deadlock", "serializ", "lock", "could not connect", "closed"))


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
