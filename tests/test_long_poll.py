"""Learning a decision when it is made: ``Prefer: wait=N`` on cart requests, ``?wait=N`` on a job."""

from __future__ import annotations

import threading
import time

import pytest

from shop.lanes import decisions
from tests.helpers import Shopper, assert_error


def test_prefer_wait_answers_200_with_the_outcome_once_it_is_decided(client, make_product, shopper, consumer):
    make_product("FLASH-1", on_hand=3)
    response = shopper.client.post(
        "/chart", json={"sku": "FLASH-1", "qty": 1}, headers={**shopper.headers, "Prefer": "wait=8"}
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["status"], body["result"]["outcome"]) == ("finished", "held")
    assert response.headers["Preference-Applied"] == "wait=8"
    assert response.headers["Location"] == f"/jobs/{body['job_id']}"
    assert response.headers["X-Cart-Token"]


def test_prefer_wait_beyond_the_cap_waits_the_cap(client, make_product, shopper, consumer):
    make_product("FLASH-1", on_hand=3)
    response = shopper.client.post(
        "/chart", json={"sku": "FLASH-1", "qty": 1}, headers={"Prefer": "respond-async, wait=999"}
    )
    assert response.status_code == 200, response.get_json()
    assert response.headers["Preference-Applied"] == "wait=10"


def test_prefer_wait_not_met_answers_202_with_the_place_in_line(client, make_product, shopper):
    make_product("FLASH-1", on_hand=3)
    response = shopper.client.post("/chart", json={"sku": "FLASH-1", "qty": 1}, headers={"Prefer": "wait=1"})
    assert response.status_code == 202
    assert response.get_json()["status"] == "queued"
    assert "Preference-Applied" not in response.headers


def test_a_put_honours_prefer_wait_too(client, make_product, shopper, consumer):
    make_product("FLASH-1", on_hand=3)
    shopper.add("FLASH-1", 1)
    response = shopper.client.put("/chart/FLASH-1/2", headers={**shopper.headers, "Prefer": "wait=8"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["result"]["outcome"] in {"held", "updated"}


def test_a_long_polled_job_answers_when_its_lane_decides_it_not_at_the_deadline(
    make_product, shopper, consumer, monkeypatch
):
    # No re-reading on a timer: only the consumer's announcement can wake the waiter in time.
    monkeypatch.setattr(decisions, "RECHECK_S", 30)
    make_product("FLASH-1", on_hand=3)
    accepted = shopper.add("FLASH-1", 1)
    job_id = accepted.get_json()["job_id"]
    started = time.monotonic()
    body = shopper.client.get(f"/jobs/{job_id}?wait=10", headers=shopper.headers).get_json()
    assert body["status"] == "finished"
    assert body["result"]["outcome"] == "held"
    assert time.monotonic() - started < 8


def test_a_long_poll_nobody_decides_answers_the_place_in_line_at_its_deadline(make_product, shopper):
    make_product("FLASH-1", on_hand=3)
    job_id = shopper.add("FLASH-1", 1).get_json()["job_id"]
    started = time.monotonic()
    body = shopper.client.get(f"/jobs/{job_id}?wait=1", headers=shopper.headers).get_json()
    assert time.monotonic() - started >= 0.9
    assert (body["status"], body["position"], body["result"]) == ("queued", 0, None)


def test_a_decided_job_answers_a_long_poll_at_once(make_product, shopper, drain):
    make_product("FLASH-1", on_hand=3)
    job_id = shopper.add("FLASH-1", 1).get_json()["job_id"]
    drain()
    started = time.monotonic()
    body = shopper.client.get(f"/jobs/{job_id}?wait=10", headers=shopper.headers).get_json()
    assert body["status"] == "finished"
    assert time.monotonic() - started < 5


def test_another_cart_cannot_long_poll_a_job(client, make_product, shopper):
    make_product("FLASH-1", on_hand=3)
    job_id = shopper.add("FLASH-1", 1).get_json()["job_id"]
    other = Shopper(client)
    other.cart()
    error = assert_error(client.get(f"/jobs/{job_id}?wait=5", headers=other.headers), 404)
    assert error["code"] == "unknown_job"


@pytest.mark.parametrize("wait", ["abc", "-1", "1.5", "11", "", "9999999"])
def test_a_wait_that_is_not_whole_seconds_within_the_cap_is_refused(make_product, shopper, wait):
    make_product("FLASH-1", on_hand=3)
    job_id = shopper.add("FLASH-1", 1).get_json()["job_id"]
    error = assert_error(shopper.client.get(f"/jobs/{job_id}?wait={wait}", headers=shopper.headers), 400)
    assert error["code"] == "invalid_wait"


@pytest.fixture
def one_slot(services):
    """A process's waiter that holds one long-poll at a time."""
    waiter = decisions.DecisionWaiter(services.redis, slots=1)
    yield waiter
    waiter.close()


def test_long_polls_beyond_the_slots_answer_at_once_so_waiting_never_takes_every_thread(one_slot):
    waiter = one_slot
    held = threading.Thread(target=waiter.wait, args=("sku:FLASH-1", lambda: "held", lambda _r: False, 2))
    held.start()
    time.sleep(0.3)
    started = time.monotonic()
    assert waiter.wait("sku:FLASH-1", lambda: "read once", lambda _r: False, 5) == "read once"
    assert time.monotonic() - started < 1
    held.join()


def test_a_freed_long_poll_slot_holds_the_next_waiter(one_slot):
    waiter = one_slot
    waiter.wait("sku:FLASH-1", lambda: None, lambda _r: True, 5)
    started = time.monotonic()
    waiter.wait("sku:FLASH-1", lambda: None, lambda _r: False, 1)
    assert time.monotonic() - started >= 0.9
