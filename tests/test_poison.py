"""A poison request (one whose apply raises) fails alone: the rest of its lane is answered in order."""

from __future__ import annotations

import json
import logging

import pytest
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry

from shop.domain.requests import RequestKind, sku_lane
from shop.storage.models import AppliedRequest, Hold, HoldStatus
from tests.helpers import assert_audit_clean, wait_until

SKU = "POISON-1"
LANE = sku_lane(SKU)


def _poison(services, stage: str) -> str:
    """Put a poison request in line: one that the web tier never sends and whose ``stage`` raises.

    ``data``: a hold without a cart, so applying it raises; ``apply`` and ``publish``: a shopper's
    hold marked for the consumer's test hook to fail there.
    """
    params = {"sku": SKU, "qty": 1}
    if stage != "data":
        params.update(cart_id="p" * 40, allow_partial=False, test_fault=stage)
    admission = services.lanes.admit(LANE, RequestKind.HOLD, params, sku=SKU, qty=1, demand=1)
    return admission.job_id


# Whether the poison request's change is committed before it fails (a publish fault comes after).
COMMITTED = {"data": False, "apply": False, "publish": True}


@pytest.fixture(params=sorted(COMMITTED))
def stage(request) -> str:
    return request.param


@pytest.fixture
def line(services, make_product, new_shopper, stage):
    """Four units; a paused lane with two shoppers, the poison request, then three more shoppers."""
    make_product(SKU, on_hand=4, max_per_cart=1)
    services.lanes.pause(LANE)
    shoppers = [new_shopper() for _ in range(5)]
    accepted = [(s, s.add(SKU, 1)) for s in shoppers[:2]]
    poison = _poison(services, stage)
    accepted += [(s, s.add(SKU, 1)) for s in shoppers[2:]]
    assert all(r.status_code == 202 for _s, r in accepted)
    return accepted, poison


def _assert_lane_answered_in_order(services, accepted, poison, stage) -> None:
    results = [s.result(r) for s, r in accepted]
    # Ticket order decides: the four units go to the first four in line, the rest are sold out.
    expected = ["held", "held", "held", "sold_out", "sold_out"]
    if not COMMITTED[stage]:
        expected = ["held", "held", "held", "held", "sold_out"]
    assert [r["outcome"] for r in results] == expected
    state = services.lanes.view(poison)
    assert state.status == JobStatus.FAILED
    assert state.result["outcome"] == "error" and state.result["message"]
    assert Job.fetch(poison, connection=services.redis).get_status() == JobStatus.FAILED
    assert poison in FailedJobRegistry(LANE, connection=services.redis).get_job_ids()
    with services.db.reading() as session:
        assert (session.get(AppliedRequest, poison) is not None) == COMMITTED[stage]
        assert session.query(Hold).filter_by(status=HoldStatus.ACTIVE).count() == 4
    assert_audit_clean(services)


def test_a_poison_request_fails_alone_and_the_rest_of_its_batch_is_answered_in_order(
    services, line, stage, drain, caplog
):
    accepted, poison = line
    services.lanes.resume(LANE)
    with caplog.at_level(logging.ERROR, logger="shop.consumer"):
        assert drain(batch_size=200) == 6
    _assert_lane_answered_in_order(services, accepted, poison, stage)
    logged = [json.loads(r.getMessage()) for r in caplog.records if r.getMessage().startswith("{")]
    event = "publish_failed" if stage == "publish" else "request_failed"
    assert [(e["event"], e["job"]) for e in logged] == [(event, poison)]


def test_a_consumer_process_survives_a_poison_request_and_keeps_serving_its_lane(
    services, line, stage, spawn, new_shopper
):
    accepted, poison = line
    consumer = spawn("workers.consumer", BATCH_SIZE=200)
    services.lanes.resume(LANE)
    last = accepted[-1][1].get_json()["job_id"]
    assert wait_until(lambda: services.lanes.view(last).status == "finished", timeout_s=30)
    _assert_lane_answered_in_order(services, accepted, poison, stage)
    # The same process answers the next request: it was never restarted.
    later = new_shopper()
    response = later.add(SKU, 1)
    assert wait_until(
        lambda: services.lanes.view(response.get_json()["job_id"]).status == "finished", timeout_s=30
    )
    assert later.result(response)["outcome"] == "sold_out"
    assert consumer.poll() is None
