"""The scheduler process: rq-scheduler moving due expiries into their lanes, plus the sweeper.

Due jobs go through ``LaneQueue`` so they take a ticket like any shopper's request. The sweeper is a
periodic job with a stable id, re-registered on every pass, so a Redis restart or a second scheduler
started by mistake neither loses nor duplicates it (rq-scheduler's own lock keeps one mover at a time).

Run with ``python -m workers.schedule``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq_scheduler import Scheduler
from sqlalchemy.exc import SQLAlchemyError

from config import config_from_env
from shop.lanes.client import Lanes
from shop.lanes.door import LaneQueue
from shop.lanes.expiry import MAINTENANCE_LANE, SWEEPER_JOB_ID
from shop.lanes.keys import job_func
from shop.lanes.metrics import SAMPLE_EVERY_S, record_samples
from shop.lanes.reconciler import reconcile
from shop.services import build_services

log = logging.getLogger("shop.scheduler")


class LaneScheduler(Scheduler):
    """rq-scheduler that enqueues through lanes and keeps the sweeper registered."""

    queue_class = LaneQueue

    def __init__(
        self,
        connection: Redis,
        interval: float,
        sweep_interval: int,
        sampler: Callable[[], None] | None = None,
        reconciler: Callable[[], object] | None = None,
        reconcile_interval: float = 30.0,
        name: str | None = None,
    ) -> None:
        super().__init__(
            queue_name=MAINTENANCE_LANE,
            connection=connection,
            interval=interval,
            queue_class=LaneQueue,
            name=name,
        )
        self.sweep_interval = sweep_interval
        self.sampler = sampler
        self.lanes = Lanes(connection)
        self._last_sample = 0.0
        self.reconciler = reconciler
        self.reconcile_interval = reconcile_interval
        self._last_reconcile = 0.0

    def ensure_sweeper(self) -> None:
        """(Re-)register the periodic sweeper under its stable id."""
        if SWEEPER_JOB_ID in self:
            return
        self.schedule(
            scheduled_time=datetime.now(UTC),
            func=job_func("sweep"),
            interval=self.sweep_interval,
            repeat=None,
            id=SWEEPER_JOB_ID,
            queue_name=MAINTENANCE_LANE,
            result_ttl=600,
        )

    def enqueue_jobs(self) -> list:
        try:
            self.ensure_sweeper()
            self._sample()
            self._reconcile()
            # Sales whose start has come: draw their pre-queue even if nobody arrives after the start.
            self.lanes.open_due_sales()
            return super().enqueue_jobs()
        except (RedisConnectionError, RedisTimeoutError) as exc:
            log.warning("redis unavailable: %s", exc)
            return []

    def run(self, burst: bool = False) -> None:
        """rq-scheduler's loop, made to ride out Redis restarts instead of exiting on the first error."""
        self._install_signal_handlers()
        registered = False
        try:
            while True:
                started = time.monotonic()
                try:
                    if not registered:
                        registered = self._register()
                    self.heartbeat()
                    if self.acquire_lock():
                        self.enqueue_jobs()
                        self.remove_lock()
                        if burst:
                            return
                except (RedisConnectionError, RedisTimeoutError) as exc:
                    log.warning("redis unavailable: %s", exc)
                    registered = False
                time.sleep(max(0.0, self._interval - (time.monotonic() - started)))
        finally:
            try:
                self.remove_lock()
                self.register_death()
            except (RedisConnectionError, RedisTimeoutError):
                pass

    def _register(self) -> bool:
        try:
            self.register_birth()
        except ValueError:
            pass  # our own registration survived a brief outage
        return True

    def _reconcile(self) -> None:
        """Settle payments left in flight by a dead web process (only the lock holder does this)."""
        if self.reconciler is None or time.monotonic() - self._last_reconcile < self.reconcile_interval:
            return
        self._last_reconcile = time.monotonic()
        try:
            self.reconciler()
        except Exception:  # a gateway or database failure must not stop the scheduler: next pass retries
            log.exception("payment reconciliation failed")

    def _sample(self) -> None:
        """Record the sale board's sparkline points (only the scheduler holding the lock does this)."""
        if self.sampler is None or time.monotonic() - self._last_sample < SAMPLE_EVERY_S:
            return
        self._last_sample = time.monotonic()
        try:
            self.sampler()
        except SQLAlchemyError as exc:
            log.warning("could not sample the board figures: %s", exc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Move due expiries into lanes and run the sweeper.")
    parser.add_argument("--burst", action="store_true", help="move what is due once and exit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "WARNING"), stream=sys.stdout)
    services = build_services(config_from_env())
    scheduler = LaneScheduler(
        services.redis,
        interval=services.config.SCHEDULER_INTERVAL_SECONDS,
        sweep_interval=services.config.SWEEP_INTERVAL_SECONDS,
        sampler=lambda: record_samples(services),
        reconciler=lambda: reconcile(services),
        reconcile_interval=services.config.PAYMENT_RECONCILE_INTERVAL_SECONDS,
        # Several worker hosts run a scheduler each; rq-scheduler's lock lets one of them work at a time.
        name=f"scheduler-{services.config.HOST_ID}-{os.getpid()}",
    )
    scheduler.run(burst=args.burst)
    return 0


if __name__ == "__main__":
    sys.exit(main())
