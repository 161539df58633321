"""The waitlist: sold-out requests that chose to wait get returned units before anyone newer in line."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from rq_scheduler import Scheduler
from sqlalchemy import text

from shop.domain.inventory import apply_stock_requests
from shop.domain.requests import sku_lane
from shop.lanes.expiry import sweep
from shop.lanes.keys import READY_LIST, lane_key
from shop.storage.models import WaitlistEntry, WaitlistStatus
from tests.helpers import assert_audit_clean, wait_until


def job(shopper, response) -> dict:
    return shopper.job(response.get_json()["job_id"]).get_json()


@pytest.fixture
def sold_out(make_product, new_shopper, drain):
    """A SKU whose 2 units are both held in another shopper's cart; return that shopper."""
    make_product("WL-1", on_hand=2, max_per_cart=2)
    holder = new_shopper()
    holder.add("WL-1", 2)
    drain()
    return holder


def test_a_sold_out_request_that_chose_the_waitlist_waits_while_units_are_held(sold_out, shopper, drain):
    accepted = shopper.add("WL-1", 1, waitlist=True)
    drain()

    view = job(shopper, accepted)
    assert view["status"] == "waitlisted"
    assert view["waitlist_position"] == 0
    assert view["result"]["outcome"] == "waitlisted"
    assert view["odds"]["waitlist"] is True and view["odds"]["held"] == 2
    assert view["eta_seconds"] is None
    assert accepted.get_json()["job_id"] in shopper.cart().get_json()["pending_jobs"]
    receipt = shopper.client.get(f"/jobs/{view['job_id']}/receipt", headers=shopper.headers)
    assert receipt.status_code == 409  # not decided yet


def test_without_the_flag_or_with_nothing_held_a_sold_out_request_is_told_so(
    make_product, sold_out, shopper, new_shopper, drain
):
    plain = shopper.add("WL-1", 1)
    make_product("WL-EMPTY", on_hand=0)
    other = new_shopper()
    nothing_held = other.add("WL-EMPTY", 1, waitlist=True)
    drain()

    assert job(shopper, plain)["result"]["outcome"] == "sold_out"
    assert job(other, nothing_held)["result"]["outcome"] == "sold_out"


def test_a_waitlisted_request_gets_a_returned_unit_before_a_later_request_that_did_not_wait(
    services, sold_out, shopper, new_shopper, drain
):
    waiting = shopper.add("WL-1", 1, waitlist=True)
    drain()
    later = new_shopper()
    sold_out.set_qty("WL-1", 1)  # the holder gives one unit back...
    late = later.add("WL-1", 1)  # ...and a newer request is right behind that
    drain()

    handed = job(shopper, waiting)
    assert handed["status"] == "finished"
    assert handed["result"]["outcome"] == "held"
    assert handed["result"]["qty"] == 1 and handed["result"]["hold_id"]
    assert job(later, late)["result"]["outcome"] == "sold_out"
    assert waiting.get_json()["job_id"] not in shopper.cart().get_json()["pending_jobs"]
    assert [item["sku"] for item in shopper.cart().get_json()["items"]] == ["WL-1"]
    receipt = shopper.client.get(f"/jobs/{handed['job_id']}/receipt", headers=shopper.headers).get_json()
    assert receipt["outcome"]["outcome"] == "held" and receipt["ledger_seq"]
    assert_audit_clean(services)


def test_a_returned_unit_goes_to_the_oldest_of_two_entries_that_both_fit(
    services, sold_out, shopper, new_shopper, drain
):
    older = shopper.add("WL-1", 1, waitlist=True)
    newer_shopper = new_shopper()
    newer = newer_shopper.add("WL-1", 1, waitlist=True)
    drain()
    assert job(newer_shopper, newer)["waitlist_position"] == 1

    sold_out.set_qty("WL-1", 1)  # one unit back; either entry would fit
    drain()

    assert job(shopper, older)["result"]["outcome"] == "held"
    still = job(newer_shopper, newer)
    assert (still["status"], still["waitlist_position"]) == ("waitlisted", 0)
    assert_audit_clean(services)


@pytest.mark.parametrize(("older_qty", "newer_qty"), [(2, 1), (1, 2)])
def test_returned_units_go_to_the_oldest_entry_first_whatever_the_quantities(
    services, sold_out, shopper, new_shopper, drain, older_qty, newer_qty
):
    older = shopper.add("WL-1", older_qty, waitlist=True)
    newer_shopper = new_shopper()
    newer = newer_shopper.add("WL-1", newer_qty, waitlist=True)
    drain()

    sold_out.set_qty("WL-1", 0)  # both units back: enough for either entry, not for both
    drain()

    served = job(shopper, older)["result"]
    assert (served["outcome"], served["qty"]) == ("held", older_qty)
    still = job(newer_shopper, newer)
    assert (still["status"], still["waitlist_position"]) == ("waitlisted", 0)
    assert still["odds"]["available"] == 2 - older_qty
    assert_audit_clean(services)


def test_units_an_expired_order_returns_go_to_the_waitlist_before_requests_already_in_line(
    services, sold_out, shopper, new_shopper, drain
):
    sold_out.checkout()
    drain()
    waiting = shopper.add("WL-1", 2, waitlist=True)
    drain()
    services.lanes.pause(sku_lane("WL-1"))
    in_line = new_shopper()
    ahead = in_line.add("WL-1", 1)  # in the SKU's line before the units come back
    with services.db.writing() as session, session.begin():
        session.execute(text("UPDATE orders SET pay_before = :t"), {"t": "2000-01-01"})
    assert sweep(services.db, services.lanes, services.config.CHECKOUT_LANES)["orders"] == 1
    drain()  # the order expires on its checkout line; the SKU's line is paused meanwhile
    services.lanes.resume(sku_lane("WL-1"))
    drain()

    assert job(shopper, waiting)["result"]["outcome"] == "held"
    assert job(in_line, ahead)["result"]["outcome"] == "sold_out"
    assert_audit_clean(services)


def test_an_entry_wanting_more_than_came_back_keeps_its_place_while_a_smaller_one_is_served(
    services, sold_out, shopper, new_shopper, drain
):
    big = shopper.add("WL-1", 2, waitlist=True)
    small_shopper = new_shopper()
    small = small_shopper.add("WL-1", 1, waitlist=True)
    drain()
    assert job(small_shopper, small)["waitlist_position"] == 1

    sold_out.set_qty("WL-1", 1)
    drain()

    assert job(small_shopper, small)["result"]["outcome"] == "held"
    sold_out.set_qty("WL-1", 0)  # one more back: 1 available, still not the 2 wanted
    drain()
    still = job(shopper, big)
    assert (still["status"], still["waitlist_position"]) == ("waitlisted", 0)
    assert still["odds"]["available"] == 1
    small_shopper.set_qty("WL-1", 0)
    drain()
    assert job(shopper, big)["result"]["outcome"] == "held"
    assert_audit_clean(services)


def test_a_waitlist_entry_ends_as_sold_out_when_nothing_comes_back_in_time(
    config, services, sold_out, shopper, spawn
):
    config.WAITLIST_TTL_SECONDS = 2
    spawn("workers.consumer", WAITLIST_TTL_SECONDS=2)
    spawn("workers.schedule", WAITLIST_TTL_SECONDS=2)
    accepted = shopper.add("WL-1", 1, waitlist=True)
    assert wait_until(lambda: job(shopper, accepted)["status"] == "waitlisted")

    assert wait_until(lambda: job(shopper, accepted)["status"] == "finished", timeout_s=15)
    assert job(shopper, accepted)["result"] == {
        "outcome": "sold_out",
        "sku": "WL-1",
        "available": 0,
        "waitlist_expired": True,
    }
    with services.db.reading() as session:
        assert session.query(WaitlistEntry).one().status == WaitlistStatus.EXPIRED
    assert_audit_clean(services)


def test_the_sweeper_ends_an_overdue_entry_whose_scheduled_expiry_was_lost(
    config, services, sold_out, shopper, drain
):
    config.WAITLIST_TTL_SECONDS = 1
    accepted = shopper.add("WL-1", 1, waitlist=True)
    drain()
    scheduled = services.redis.zrange(Scheduler.scheduled_jobs_key, 0, -1)
    waitlist_jobs = [job_id for job_id in scheduled if job_id.startswith(b"expire-waitlist-")]
    assert len(waitlist_jobs) == 1
    services.redis.zrem(Scheduler.scheduled_jobs_key, *waitlist_jobs)
    time.sleep(1.2)

    assert sweep(services.db, services.lanes, services.config.CHECKOUT_LANES)["waitlist"] == 1
    drain()

    assert job(shopper, accepted)["result"]["waitlist_expired"] is True


def test_a_hold_expiring_through_the_workers_hands_its_unit_to_the_waitlist(
    config, services, make_product, new_shopper, shopper, spawn
):
    config.HOLD_TTL_SECONDS = 2
    make_product("WL-2", on_hand=1)
    env = {"HOLD_TTL_SECONDS": 2, "SWEEP_INTERVAL_SECONDS": 1}
    spawn("workers.consumer", **env)
    spawn("workers.schedule", **env)
    holder = new_shopper()
    first = holder.add("WL-2", 1)
    assert wait_until(lambda: job(holder, first)["status"] == "finished")
    waiting = shopper.add("WL-2", 1, waitlist=True)
    assert wait_until(lambda: job(shopper, waiting)["status"] == "waitlisted")

    assert wait_until(lambda: job(shopper, waiting)["status"] == "finished", timeout_s=15)
    assert job(shopper, waiting)["result"]["outcome"] == "held"
    # ...and that hold expires in its turn, like any other.
    assert wait_until(lambda: shopper.cart().get_json()["items"][0]["status"] == "expired", timeout_s=15)
    assert_audit_clean(services)


def test_a_hand_off_made_by_a_consumer_that_died_before_publishing_is_published_by_the_next(
    config, services, sold_out, shopper, drain
):
    waiting = shopper.add("WL-1", 1, waitlist=True)
    drain()
    sold_out.set_qty("WL-1", 0)
    lane = sku_lane("WL-1")
    token = services.lanes.acquire(lane, "dead", 10_000)
    taken = services.lanes.take(lane, "dead", 10, 10_000)
    with services.db.writing() as session:
        requests = [t.request for t in taken]
        ttl = timedelta(minutes=10)
        apply_stock_requests(session, "WL-1", token, requests, ttl, waitlist_ttl=ttl)
    services.redis.delete(lane_key(lane, "lease"))  # it died before publishing anything
    services.redis.rpush(READY_LIST, lane)

    drain()

    assert job(shopper, waiting)["result"]["outcome"] == "held"
    assert_audit_clean(services)


def test_the_waitlist_flag_must_be_true_or_false(shopper, make_product):
    make_product("WL-3", on_hand=1)

    response = shopper.add("WL-3", 1, waitlist="yes")

    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_waitlist"
