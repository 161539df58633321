"""The job hashes, results and registry entries the lanes' Lua scripts write by hand are RQ 3's own.

rq-dashboard, a stock RQ worker and an operator's ``rq`` shell read the lanes' jobs with RQ's readers,
never with the shop's: ``Job.fetch``, ``Job.get_status``, ``Job.latest_result``, ``Result`` and the
registries. Each test puts a request through the real path (the admit script, the consumer's publish
script) and reads what it wrote with RQ alone.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rq import Queue
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, FinishedJobRegistry
from rq.results import Result
from rq_scheduler import Scheduler

from shop.domain.requests import RequestKind, sku_lane
from shop.lanes.admission import request_hold
from shop.lanes.keys import job_func
from shop.storage.models import Hold

SKU = "RQ-1"
LANE = sku_lane(SKU)
CART = "c" * 32
OTHER_CART = "d" * 32


def fetch(services, job_id: str) -> Job:
    return Job.fetch(job_id, connection=services.redis)


def test_an_admitted_request_is_a_queued_rq_job_in_its_lanes_rq_queue(services, make_product):
    make_product(SKU, on_hand=5)
    before = datetime.now(UTC)

    admission = request_hold(services, CART, SKU, 2)

    job = fetch(services, admission.job_id)
    assert job.get_status() == JobStatus.QUEUED
    assert job.func_name == job_func(RequestKind.HOLD)
    assert job.args == ()
    assert job.kwargs == {"cart_id": CART, "sku": SKU, "qty": 2, "allow_partial": False}
    assert job.origin == LANE
    assert before - timedelta(seconds=1) <= job.enqueued_at <= datetime.now(UTC)
    assert job.latest_result() is None
    queue = Queue(LANE, connection=services.redis)
    assert queue.job_ids == [admission.job_id]
    assert queue in Queue.all(connection=services.redis)


def test_a_decided_request_is_a_finished_rq_job_with_its_outcome_as_rq_result(services, make_product, drain):
    make_product(SKU, on_hand=5)
    admission = request_hold(services, CART, SKU, 2)

    assert drain() == 1

    job = fetch(services, admission.job_id)
    assert job.get_status() == JobStatus.FINISHED
    assert job.is_finished
    result = job.latest_result()
    assert isinstance(result, Result)
    assert result.type == Result.Type.SUCCESSFUL
    assert result.return_value["outcome"] == "held"
    assert result.return_value["qty"] == 2
    assert job.return_value() == result.return_value
    assert [r.id for r in Result.all(job)] == [result.id]
    assert job.enqueued_at <= job.started_at <= job.ended_at <= datetime.now(UTC)
    assert job.worker_name == result.worker_name != ""
    registry = FinishedJobRegistry(LANE, connection=services.redis)
    assert admission.job_id in registry
    assert registry.get_job_ids() == [admission.job_id]
    assert Queue(LANE, connection=services.redis).job_ids == []


def test_a_waitlisted_request_is_deferred_in_rq_until_its_unit_comes_back(services, make_product, drain):
    make_product(SKU, on_hand=1)
    request_hold(services, OTHER_CART, SKU, 1)
    waiting = request_hold(services, CART, SKU, 1, waitlist=True)

    assert drain() == 2

    job = fetch(services, waiting.job_id)
    assert job.get_status() == JobStatus.DEFERRED
    assert job.latest_result().return_value["outcome"] == "waitlisted"
    assert waiting.job_id not in FinishedJobRegistry(LANE, connection=services.redis)


def test_a_failed_request_is_a_failed_rq_job_in_the_failed_registry(services, make_product):
    make_product(SKU, on_hand=5)
    admission = request_hold(services, CART, SKU, 1)
    lanes = services.lanes
    assert lanes.acquire(LANE, "contract", 10_000)
    taken = lanes.take(LANE, "contract", 10, 10_000)
    assert [t.job_id for t in taken] == [admission.job_id]

    lanes.publish(LANE, "contract", taken, {admission.job_id: RuntimeError("boom")}, 10_000)

    job = fetch(services, admission.job_id)
    assert job.get_status() == JobStatus.FAILED
    result = job.latest_result()
    assert result.type == Result.Type.FAILED
    assert "boom" in result.exc_string
    assert admission.job_id in FailedJobRegistry(LANE, connection=services.redis)
    assert admission.job_id not in FinishedJobRegistry(LANE, connection=services.redis)


def test_a_holds_expiry_is_an_rq_scheduler_job_due_at_the_holds_end(services, make_product, drain):
    make_product(SKU, on_hand=5)
    request_hold(services, CART, SKU, 1)

    drain()

    with services.db.reading() as session:
        hold = session.query(Hold).one()
    job = fetch(services, f"expire-hold-{hold.id}")
    assert job.get_status() == JobStatus.SCHEDULED
    assert job.func_name == job_func(RequestKind.EXPIRE_HOLD)
    assert job.kwargs == {"hold_id": hold.id, "sku": SKU}
    assert job.origin == LANE
    scheduled = Scheduler(connection=services.redis).get_jobs(with_times=True)
    due = {j.id: when for j, when in scheduled}[job.id]
    expires_at = hold.expires_at.replace(tzinfo=UTC) if hold.expires_at.tzinfo is None else hold.expires_at
    assert expires_at <= due.replace(tzinfo=UTC) < expires_at + timedelta(seconds=1)
