"""RQ's job hashes and results as the lanes make and read them by hand, in RQ 3's own formats.

The lanes' jobs are real RQ jobs (rq-dashboard shows them, RQ's ``Job.fetch``, ``Result`` and
``FinishedJobRegistry`` read them: tests/test_job_hash_contract.py), but the scripts write them in
bulk: a job's fields are made here with RQ's own ``Job.to_dict`` and sent to a script, and a result
is RQ's ``Result`` payload (the default serializer's bytes, base64-encoded).
"""

from __future__ import annotations

import json
import math
import uuid
import zlib
from base64 import b64encode
from datetime import UTC, datetime
from typing import Any

from redis import Redis
from rq.job import Job, JobStatus
from rq.results import Result
from rq.serializers import DefaultSerializer
from rq.utils import utcformat, utcparse
from rq_scheduler import Scheduler

from shop.domain.requests import QueuedRequest
from shop.lanes.keys import JOB_KEY_PREFIX, job_func, job_kind
from shop.lanes.views import FAILED_MESSAGE
from shop.storage.models import utcnow

serializer = DefaultSerializer()


def describe(params: dict[str, Any]) -> str:
    """A job's parameters as rq-dashboard shows them (without the cart id, which is a secret)."""
    shown = {k: v for k, v in params.items() if k != "cart_id"}
    return " ".join(f"{k}={v}" for k, v in sorted(shown.items()))


def queued_job(
    redis: Redis,
    kind: str,
    params: dict[str, Any],
    lane: str,
    result_ttl: int,
    job_id: str | None = None,
    description: str | None = None,
) -> Job:
    """Make (not save) the RQ job of a request of ``kind`` for ``lane``; a script stores it."""
    return Job.create(
        job_func(kind),
        kwargs=params,
        connection=redis,
        id=job_id or uuid.uuid4().hex,
        result_ttl=result_ttl,
        failure_ttl=result_ttl,
        origin=lane,
        status=JobStatus.QUEUED,
        description=description or f"{kind} {describe(params)}",
    )


def flat_fields(mapping: dict[str, Any]) -> list[Any]:
    """A job hash's fields and values, one after the other, as a script's ARGV takes them."""
    return [x for pair in mapping.items() for x in pair]


def encoded_result(value: Any) -> bytes:
    """A successful result's ``return_value`` as ``Result.serialize`` stores it."""
    return b64encode(serializer.dumps(value))


def restore_result(redis: Redis, job_id: str, result_id: bytes, fields: dict[bytes, bytes]) -> Any:
    """Turn a stored RQ result into what the shopper is told (a failure as an error outcome)."""
    restored = Result.restore(job_id, result_id.decode(), fields, connection=redis)
    if restored.type == Result.Type.FAILED:
        return {"outcome": "error", "message": FAILED_MESSAGE}
    return restored.return_value


def rq_now() -> str:
    """Now as RQ writes its timestamps in job hashes (``started_at``, ``ended_at``)."""
    return utcformat(utcnow())


def parse_rq_time(raw: bytes) -> datetime | None:
    """Parse a timestamp as RQ stores it in job hashes (UTC)."""
    text = raw.decode()
    try:
        # RQ writes ISO 8601 with a Z; fromisoformat reads that a fiftieth of the time utcparse takes.
        parsed = datetime.fromisoformat(text)
    except ValueError:
        pass
    else:
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    try:
        return utcparse(text).replace(tzinfo=UTC)
    except ValueError:
        return None


def decode_request(job_id: str, data: bytes, ticket: bytes, note: bytes = b"") -> QueuedRequest | None:
    """Turn a stored RQ job into the request it carries; None if the job hash is gone.

    ``note`` is what a script learned after the job was made (its place in a sale's draw), kept
    with the request's parameters so the ledger records it.
    """
    if not data:
        return None
    func_name, _instance, _args, kwargs = serializer.loads(zlib.decompress(data))
    params = dict(kwargs)
    if note:
        params.update(json.loads(note))
    return QueuedRequest(
        request_id=job_id,
        kind=job_kind(func_name),
        params=params,
        ticket=int(ticket) if ticket else None,
    )


def schedule_job(
    pipe: Any, redis: Redis, job_id: str, func: str, kwargs: dict[str, Any], when: datetime, lane: str
) -> None:
    """Schedule a job with rq-scheduler (its job hash and sorted set), inside the caller's pipeline."""
    job = Job.create(
        job_func(func),
        kwargs=kwargs,
        connection=redis,
        id=job_id,
        status=JobStatus.SCHEDULED,
        origin=lane,
        description=f"{func} {describe(kwargs)}",
    )
    job.save(pipeline=pipe)
    # rq-scheduler works in whole seconds: round up, so the job is never moved before it is due.
    pipe.zadd(Scheduler.scheduled_jobs_key, {job.id: math.ceil(when.timestamp())})


class ScheduledJobs:
    """Write scheduled jobs as schedule_job does, building one RQ Job per function, not one per job.

    A batch of 200 holds schedules 200 expiries; Job.create and Job.to_dict for each cost more than
    everything else of publishing a hold (issue 21's profile). Jobs of one function and lane differ
    only in their id, their data (the function's arguments) and their description, so each is the
    first one's hash with those three made afresh, the way RQ makes them.
    """

    OWN_FIELDS = ("data", "description")

    def __init__(self, redis: Redis, lane: str) -> None:
        self.redis = redis
        self.lane = lane
        self.templates: dict[str, dict[str, Any]] = {}

    def schedule(self, pipe: Any, job_id: str, func: str, kwargs: dict[str, Any], when: datetime) -> None:
        """Write one job hash and its rq-scheduler entry into ``pipe``."""
        template = self.templates.get(func)
        if template is None:
            schedule_job(pipe, self.redis, job_id, func, kwargs, when, self.lane)
            self.templates[func] = pipe.hashes[JOB_KEY_PREFIX + job_id]
            return
        mapping = dict(template)
        # Job.data and Job.to_dict's 'data', for a job made from a function name and keyword arguments.
        mapping["data"] = zlib.compress(serializer.dumps((job_func(func), None, (), kwargs)))
        mapping["description"] = f"{func} {describe(kwargs)}"
        pipe.hset(JOB_KEY_PREFIX + job_id, mapping=mapping)
        pipe.zadd(Scheduler.scheduled_jobs_key, {job_id: math.ceil(when.timestamp())})


class WriteRecorder:
    """Stands in for a pipeline to collect the job hashes and sorted-set entries schedule_job writes."""

    def __init__(self) -> None:
        self.hashes: dict[str, dict[str, Any]] = {}
        # Keyed by job hash, like ``hashes``: scheduling one job twice (a cart adding to its hold
        # twice in a batch) rewrites its entry, as the real ZADD would, instead of adding one.
        self.entries: dict[str, tuple[str, str, Any]] = {}
        self._last_key = ""

    def hset(self, key: str, mapping: dict[str, Any]) -> None:
        self.hashes.setdefault(key, {}).update(mapping)
        self._last_key = key

    def zadd(self, key: str, mapping: dict[str, Any]) -> None:
        for member, score in mapping.items():
            self.entries[self._last_key] = (key, member, score)

    def script_args(self) -> list[Any]:
        """The publish script's expiry arguments: the fields every hash shares, then each job's own."""
        hashes = list(self.hashes.items())
        if [key for key, _ in hashes] != list(self.entries):
            raise RuntimeError("schedule_job wrote something the publish script cannot replay")
        shared = set(hashes[0][1].items()) if hashes else set()
        for _key, mapping in hashes[1:]:
            shared &= mapping.items()
        common = {k: v for k, v in hashes[0][1].items() if (k, v) in shared} if hashes else {}
        args: list[Any] = [len(common), *flat_fields(common), len(hashes)]
        for (key, mapping), (zset, member, score) in zip(hashes, self.entries.values(), strict=True):
            own = {k: v for k, v in mapping.items() if k not in common}
            args.extend((key, zset, member, score, len(own), *flat_fields(own)))
        return args
