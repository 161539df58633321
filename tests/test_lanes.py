"""The lane machinery: ticket order, leases, fencing, the in-flight list and batching."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shop.domain.errors import StaleFence
from shop.domain.inventory import apply_stock_requests
from shop.domain.ledger import claim_fence
from shop.domain.requests import QueuedRequest, sku_lane
from shop.lanes.admission import request_hold
from shop.lanes.keys import READY_LIST, lane_key
from shop.lanes.lease import LANE_PAUSED
from shop.storage.models import AppliedRequest, Hold, Product
from tests.helpers import cart
from workers.consumer import Consumer

LANE = sku_lane("LANE-1")
TTL = timedelta(minutes=10)


@pytest.fixture
def product(make_product):
    return make_product("LANE-1", on_hand=5, max_per_cart=5)


def test_tickets_follow_the_order_requests_were_put_in_line(services, product):
    admitted = [request_hold(services, cart(i), product, 1) for i in range(10)]
    assert [a.ticket for a in admitted] == list(range(1, 11))
    assert [a.position for a in admitted] == list(range(10))
    services.lanes.acquire(LANE, "me", 10_000)
    taken = services.lanes.take(LANE, "me", 100, 10_000)
    assert [t.job_id for t in taken] == [a.job_id for a in admitted]
    assert [t.request.ticket for t in taken] == list(range(1, 11))


def test_a_second_consumer_cannot_take_a_leased_lane(services, product):
    request_hold(services, cart(1), product, 1)
    assert services.lanes.acquire(LANE, "first", 10_000) > 0
    assert services.lanes.acquire(LANE, "second", 10_000) == 0
    assert services.lanes.take(LANE, "second", 10, 10_000) is None


def test_a_lane_paused_while_its_consumer_holds_the_lease_gives_out_nothing(services, product):
    # The pause and the take are one step in Redis: a request put in line after a pause is never
    # applied before the resume, however the consumer's loop interleaves with the operator.
    services.lanes.acquire(LANE, "me", 10_000)
    services.lanes.pause(LANE)
    request_hold(services, cart(1), product, 1)
    assert services.lanes.take(LANE, "me", 10, 10_000) is LANE_PAUSED
    services.lanes.resume(LANE)
    services.lanes.acquire(LANE, "me", 10_000)
    assert len(services.lanes.take(LANE, "me", 10, 10_000)) == 1


def test_each_lease_gets_a_higher_fencing_token(services, product):
    first = services.lanes.acquire(LANE, "first", 10_000)
    services.redis.delete(lane_key(LANE, "lease"))
    second = services.lanes.acquire(LANE, "second", 10_000)
    assert second > first


def test_a_stale_consumer_cannot_apply_after_a_newer_one_did(services, product):
    request = QueuedRequest("r-new", "hold", {"cart_id": cart(1), "sku": product, "qty": 1}, 1)
    with services.db.writing() as session:
        apply_stock_requests(session, product, 7, [request], TTL)
    stale = QueuedRequest("r-stale", "hold", {"cart_id": cart(2), "sku": product, "qty": 1}, 2)
    with services.db.writing() as session, pytest.raises(StaleFence):
        apply_stock_requests(session, product, 6, [stale], TTL)
    with services.db.reading() as session:
        assert session.get(Product, product).reserved == 1
        assert session.get(AppliedRequest, "r-stale") is None


def test_applying_a_request_twice_returns_the_first_outcome(services, product):
    request = QueuedRequest("r-1", "hold", {"cart_id": cart(1), "sku": product, "qty": 2}, 1)
    with services.db.writing() as session:
        first = apply_stock_requests(session, product, 1, [request], TTL)
    with services.db.writing() as session:
        again = apply_stock_requests(session, product, 1, [request, request], TTL)
    assert again == [first[0], first[0]]
    with services.db.reading() as session:
        assert session.get(Product, product).reserved == 2
        assert session.query(Hold).count() == 1


def test_a_batch_left_in_flight_by_a_dead_consumer_is_applied_once_by_the_next(services, product, drain):
    admitted = [request_hold(services, cart(i), product, 1) for i in range(3)]
    dead_token = services.lanes.acquire(LANE, "dead", 10_000)
    taken = services.lanes.take(LANE, "dead", 2, 10_000)
    assert len(taken) == 2
    # It applied its batch, then died before publishing: results unknown to Redis, lease expires.
    with services.db.writing() as session:
        apply_stock_requests(session, product, dead_token, [t.request for t in taken], TTL)
    services.redis.delete(lane_key(LANE, "lease"))
    services.redis.rpush(READY_LIST, LANE)

    assert drain() == 3
    with services.db.reading() as session:
        assert session.get(Product, product).reserved == 3
        assert session.query(AppliedRequest).filter_by(kind="hold").count() == 3
    statuses = [services.lanes.view(a.job_id).status for a in admitted]
    assert statuses == ["finished"] * 3
    assert services.redis.llen(lane_key(LANE, "inflight")) == 0


def test_a_lane_whose_consumer_died_is_rescued(services, product):
    request_hold(services, cart(1), product, 1)
    services.redis.delete(READY_LIST)  # the dead consumer had popped the announcement
    assert services.lanes.rescue() == 1
    assert services.lanes.next_ready(timeout=0.1) == LANE


def test_release_refuses_while_requests_wait(services, product):
    request_hold(services, cart(1), product, 1)
    services.lanes.acquire(LANE, "me", 10_000)
    assert services.lanes.release_if_idle(LANE, "me") == 0
    services.lanes.take(LANE, "me", 10, 10_000)
    assert services.lanes.release_if_idle(LANE, "me") == 0  # in flight still


def test_a_consumer_recovers_when_redis_forgot_the_fencing_counter(services, product, drain):
    request_hold(services, cart(1), product, 1)
    with services.db.writing() as session, session.begin():
        claim_fence(session, LANE, 50)  # a consumer before the Redis restart reached token 50
    assert drain() == 1
    with services.db.reading() as session:
        assert session.get(Product, product).reserved == 1


@pytest.mark.parametrize("batch_size", [1, 7, 200])
def test_batch_size_does_not_change_any_outcome(services, make_product, drain, batch_size):
    sku = make_product("BATCH-1", on_hand=9, max_per_cart=3)
    quantities = [2, 3, 1, 3, 2, 1, 1, 2, 3, 1]
    admitted = [request_hold(services, cart(i % 4), sku, q) for i, q in enumerate(quantities)]
    drain(batch_size=batch_size)
    outcomes = [services.lanes.view(a.job_id).result["outcome"] for a in admitted]
    # Carts 0..3 take turns; at most 3 per cart; 9 units. The cart limit is checked before stock.
    assert outcomes == [
        "held",  # cart 0 +2 -> 7 left
        "held",  # cart 1 +3 -> 4 left
        "held",  # cart 2 +1 -> 3 left
        "held",  # cart 3 +3 -> 0 left
        "limit_exceeded",  # cart 0 has 2, +2 > 3
        "limit_exceeded",  # cart 1 has 3, +1 > 3
        "sold_out",  # cart 2 has 1, +1 fits the limit but no unit is left
        "limit_exceeded",  # cart 3 has 3, +2 > 3
        "limit_exceeded",  # cart 0 has 2, +3 > 3
        "limit_exceeded",  # cart 1 has 3, +1 > 3
    ]


def test_the_consumer_is_registered_as_an_rq_worker(services):
    from rq import Worker

    consumer = Consumer(services, name="visible-consumer")
    consumer._register()
    try:
        assert "visible-consumer" in [w.name for w in Worker.all(connection=services.redis)]
    finally:
        consumer._unregister()


def test_a_request_that_cannot_be_applied_fails_alone_and_the_line_moves_on(services, product, drain):
    broken = services.lanes.admit(LANE, "hold", {"cart_id": cart(1), "sku": product, "qty": "many"})
    fine = request_hold(services, cart(2), product, 1)
    assert drain() == 2
    failed = services.lanes.view(broken.job_id)
    assert failed.status == "failed"
    assert failed.result["outcome"] == "error"
    assert services.lanes.view(fine.job_id).result["outcome"] == "held"
    assert services.redis.llen(lane_key(LANE, "inflight")) == 0


def test_far_back_shoppers_are_told_to_poll_less_often(services, product):
    admitted = [request_hold(services, cart(i), product, 1) for i in range(300)]
    near, far = services.lanes.view(admitted[1].job_id), services.lanes.view(admitted[299].job_id)
    assert near.poll_after_ms < far.poll_after_ms <= 10_000
    services.redis.hset(lane_key(LANE, "stats"), "rate", "100")
    measured = services.lanes.view(admitted[299].job_id)
    assert measured.poll_after_ms == 1500  # 300 ahead at 100/s: about 3 s, polled twice
