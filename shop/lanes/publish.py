"""Publishing a batch: every job's result, the expiries it schedules, and now-serving, in one call.

After the batch's commit the consumer hands its outcomes here. Finished jobs, their results, their
FinishedJobRegistry entries and the expiry jobs are written by one script (scripts/publish.lua), in
RQ's own formats, with the long-poll announcement and the lane's new now-serving: one round trip per
batch. A request that failed (rare) is written with RQ's own calls first, so rq-dashboard shows it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from redis.client import Pipeline
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, FinishedJobRegistry
from rq.results import Result
from rq.utils import current_timestamp

from shop.domain.requests import OutcomeDict
from shop.lanes import keys
from shop.lanes.job_hashes import ScheduledJobs, WriteRecorder, encoded_result, rq_now
from shop.lanes.keys import cart_pending_key, lane_key
from shop.lanes.lease import TakenRequest
from shop.lanes.side import LaneSide
from shop.lanes.views import WAITLISTED
from shop.storage.models import utcnow


class Publisher(LaneSide):
    """The consumer's last step of a batch."""

    def publish(
        self,
        lane: str,
        owner: str,
        taken: Sequence[TakenRequest],
        outcomes: dict[str, OutcomeDict | BaseException],
        lease_ms: int,
        expiries: Iterable[tuple[str, str, dict[str, Any], datetime]] = (),
        seqs: dict[str, int] | None = None,
        stock: tuple[int, int] | None = None,
        shopper_units: dict[str, int] | None = None,
        waitlist_joined: Sequence[tuple[str, int]] = (),
        waitlist_resolved: Sequence[Any] = (),
        finish: bool = True,
    ) -> None:
        """Write every job's result, schedule expiries and advance now-serving: one round trip.

        ``finish=False`` writes only the results and expiries given (a part of a batch whose
        publishing failed as a whole), leaving the in-flight list and now-serving to a later call.

        ``seqs`` gives each applied request's place in its SKU's ledger, kept for its receipt;
        ``stock`` is the SKU's (available, held) after the batch, the snapshot the odds read;
        ``shopper_units`` each touched shopper's units held, ordered or sold (per-customer limit);
        ``waitlist_joined`` (job id, entry id) of requests now waiting for a returned unit, and
        ``waitlist_resolved`` (shop.domain.inventory.WaitlistResolution) the waitlisted jobs' final results.
        """
        seqs = seqs or {}
        pipe = self.redis.pipeline(transaction=False)
        failed = FailedJobRegistry(lane, connection=self.redis)
        max_ticket = max((t.request.ticket or 0 for t in taken if t.request is not None), default=0)
        # Finished jobs go to the publish script: per job only its id, result and pending set, instead
        # of seven commands whose encoding cost more than applying the request (see bench/README.md).
        finished: list[Any] = []
        for item in taken:
            outcome = outcomes.get(item.job_id)
            if outcome is None:
                continue
            cart_id = item.request.params.get("cart_id") if item.request else None
            pending = cart_pending_key(cart_id) if cart_id else ""
            if isinstance(outcome, BaseException):
                self._fail(pipe, failed, item.job_id, outcome, owner, pending)
            else:
                seq = seqs.get(item.job_id, "")
                status = JobStatus.DEFERRED if outcome.get("outcome") == WAITLISTED else JobStatus.FINISHED
                finished.extend((item.job_id, encoded_result(outcome), pending, seq, status))
        for resolution in waitlist_resolved:
            pending = cart_pending_key(resolution.cart_id)
            value = encoded_result(resolution.outcome)
            finished.extend((resolution.job_id, value, pending, resolution.seq or "", JobStatus.FINISHED))
        if len(pipe):
            pipe.execute()  # failed jobs (rare): RQ's own calls, before the batch's results
        args = [
            *self._results_args(lane, owner, finished),
            *_expiry_args(self.redis, lane, expiries),
            # Wake the requests long-polling for these jobs (shop.lanes.decisions), in the same call.
            keys.decided_channel(lane),
            max_ticket,
            1 if finish else 0,
        ]
        if finish:
            served_through = max((t.requested_through or 0 for t in taken), default=0)
            args += [
                owner,
                max_ticket,
                lease_ms,
                served_through,
                *(stock if stock else ("", "")),
                *_counted_args(
                    [(t.shopper, t.demand) for t in taken if t.shopper and t.demand],
                    list((shopper_units or {}).items()),
                ),
                len(waitlist_joined),
                *(x for pair in waitlist_joined for x in pair),
                len(waitlist_resolved),
                *(r.job_id for r in waitlist_resolved),
            ]
        self.scripts.publish(
            keys=[
                lane_key(lane, "inflight"),
                lane_key(lane, "serving"),
                lane_key(lane, "lease"),
                lane_key(lane, "ticket"),
                lane_key(lane, "served"),
                lane_key(lane, "requested"),
                lane_key(lane, "stock"),
                lane_key(lane, "shoppers"),
                lane_key(lane, "waitlist"),
            ],
            args=args,
        )

    def _fail(
        self,
        pipe: Pipeline,
        failed: FailedJobRegistry,
        job_id: str,
        error: BaseException,
        owner: str,
        pending: str,
    ) -> None:
        """Mark a job FAILED with RQ's own calls (FailedJobRegistry.add saves the whole job: load it)."""
        try:
            job = Job.fetch(job_id, connection=self.redis)
        except NoSuchJobError:
            job = Job(job_id, connection=self.redis)
            pipe.zadd(failed.key, {job_id: current_timestamp() + self.result_ttl})
        else:
            job.set_status(JobStatus.FAILED, pipeline=pipe)
            job.ended_at = utcnow()
            failed.add(job, self.result_ttl, exc_string=repr(error), pipeline=pipe)
        Result.create_failure(job, self.result_ttl, repr(error), worker_name=owner, pipeline=pipe)
        if pending:
            pipe.srem(pending, job_id)

    def _results_args(self, lane: str, owner: str, finished: list[Any]) -> list[Any]:
        """The publish script's first run of arguments: where results go, then each finished job."""
        return [
            keys.JOB_KEY_PREFIX,
            keys.RESULTS_KEY_PREFIX,
            rq_now(),
            self.result_ttl,
            owner,
            FinishedJobRegistry(lane, connection=self.redis).key,
            current_timestamp() + self.result_ttl,  # the score FinishedJobRegistry.add gives
            len(finished) // 5,
            *finished,
        ]


def _expiry_args(
    redis: Any, lane: str, expiries: Iterable[tuple[str, str, dict[str, Any], datetime]]
) -> list[Any]:
    """The publish script's expiry jobs: rq-scheduler jobs as schedule_job makes them, shared fields once."""
    recorder = WriteRecorder()
    scheduled = ScheduledJobs(redis, lane)
    for job_id, func, kwargs, when in expiries:
        scheduled.schedule(recorder, job_id, func, kwargs, when)
    return recorder.script_args()


def _counted_args(in_line: list[tuple[str, int]], units: list[tuple[str, int]]) -> list[Any]:
    """FINISH's per-shopper arguments: quantities leaving the line, then units from the database."""
    args: list[Any] = [len(in_line)]
    for shopper, demand in in_line:
        args.extend((shopper, demand))
    args.append(len(units))
    for shopper, count in units:
        args.extend((shopper, count))
    return args
