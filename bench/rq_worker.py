"""RQ's stock SimpleWorker draining one lane's queue, one job per transaction: the hot_sku baseline.

Run as ``python -m bench.rq_worker <queue>`` with DATABASE_URL and REDIS_URL in the environment
(the job functions in workers/jobs.py read their configuration from it); prints one JSON line.
"""

from __future__ import annotations

import json
import sys
import time

from redis import Redis
from rq import Queue, SimpleWorker

from config import config_from_env


def main(queue_name: str) -> int:
    config = config_from_env()
    redis = Redis.from_url(config.REDIS_URL)
    queue = Queue(queue_name, connection=redis)
    jobs = len(queue)
    worker = SimpleWorker([queue], connection=redis)
    started = time.perf_counter()
    # WARNING keeps RQ from logging two lines per job: the stock worker at its fastest.
    worker.work(burst=True, logging_level="WARNING")
    seconds = time.perf_counter() - started
    figures = {
        "jobs": jobs,
        "seconds": seconds,
        "finished": queue.finished_job_registry.count,
        "failed": queue.failed_job_registry.count,
        "left": len(queue),
    }
    sys.stdout.write(json.dumps(figures) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
