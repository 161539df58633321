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
from datetime import UTC, datetime

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq_scheduler import Scheduler

from config import config_from_env
from shop.expiry import MAINTENANCE_LANE, SWEEPER_JOB_ID
from shop.queueing import JOB_FUNC_PREFIX, LaneQueue
from shop.services import connect_redis

log = logging.getLogger("shop.scheduler")


class LaneScheduler(Scheduler):
    """rq-scheduler that enqueues through lanes and keeps the sweeper registered."""

    queue_class = LaneQueue

    def __init__(self, connection: Redis, interval: float, sweep_interval: int) -> None:
        super().__init__(
            queue_name=MAINTENANCE_LANE, connection=connection, interval=interval, queue_class=LaneQueue
        )
        self.sweep_interval = sweep_interval

    def ensure_sweeper(self) -> None:
        """(Re-)register the periodic sweeper under its stable id."""
        if SWEEPER_JOB_ID in self:
            return
        self.schedule(
            scheduled_time=datetime.now(UTC),
            func=JOB_FUNC_PREFIX + "sweep",
            interval=self.sweep_interval,
            repeat=None,
            id=SWEEPER_JOB_ID,
            queue_name=MAINTENANCE_LANE,
            result_ttl=600,
        )

    def enqueue_jobs(self) -> list:
        try:
            self.ensure_sweeper()
            return super().enqueue_jobs()
        except (RedisConnectionError, RedisTimeoutError) as exc:
            log.warning("redis unavailable: %s", exc)
            return []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Move due expiries into lanes and run the sweeper.")
    parser.add_argument("--burst", action="store_true", help="move what is due once and exit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "WARNING"), stream=sys.stdout)
    config = config_from_env()
    scheduler = LaneScheduler(
        connect_redis(config.REDIS_URL),
        interval=config.SCHEDULER_INTERVAL_SECONDS,
        sweep_interval=config.SWEEP_INTERVAL_SECONDS,
    )
    scheduler.run(burst=args.burst)
    return 0


if __name__ == "__main__":
    sys.exit(main())
