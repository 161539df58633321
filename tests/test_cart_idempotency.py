"""Cart requests with an Idempotency-Key: a retry after a timeout never adds the units twice.

The same key from the same cart names one request: its repeats answer with the same job (also
after it was applied), a different body under the key is 422 ``idempotency_key_reused``, and
another cart's key of the same spelling is another request. Concurrent duplicates are settled in
Redis (SET NX), so exactly one of them is put in line.
"""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from shop.storage.models import Hold
from tests.snapshots import state

SKU = "IDEM-1"


def add(client, token: str | None, key: str | None, qty: int = 1, **extra):
    headers = {}
    if token:
        headers["X-Cart-Token"] = token
    if key:
        headers["Idempotency-Key"] = key
    return client.post("/chart", json={"sku": SKU, "qty": qty, **extra}, headers=headers)


def put(client, token: str, key: str | None, qty: int):
    headers = {"X-Cart-Token": token}
    if key:
        headers["Idempotency-Key"] = key
    return client.put(f"/chart/{SKU}/{qty}", headers=headers)


def held_units(services) -> int:
    with services.db.reading() as session:
        return session.scalar(select(func.coalesce(func.sum(Hold.qty), 0)).where(Hold.status == "active"))


def test_an_add_repeated_with_the_same_key_returns_the_same_job_and_holds_once(
    client, services, product, drain
):
    first = add(client, None, "retry-1")
    token = first.headers["X-Cart-Token"]

    again = add(client, token, "retry-1")

    assert first.status_code == 202 and again.status_code == 202
    assert again.get_json()["job_id"] == first.get_json()["job_id"]
    assert again.headers["Location"] == first.headers["Location"]
    drain()
    assert held_units(services) == 1


def test_an_add_repeated_after_it_was_applied_returns_the_same_finished_job(client, services, product, drain):
    first = add(client, None, "retry-2")
    token = first.headers["X-Cart-Token"]
    drain()

    again = add(client, token, "retry-2")
    drain()

    assert again.status_code in (200, 202)
    assert again.get_json()["job_id"] == first.get_json()["job_id"]
    assert again.get_json()["status"] == "finished"
    assert held_units(services) == 1
    job = client.get(f"/jobs/{first.get_json()['job_id']}", headers={"X-Cart-Token": token}).get_json()
    assert job["result"]["outcome"] == "held" and job["result"]["qty"] == 1


def test_the_same_key_with_a_different_body_is_refused_and_changes_nothing(client, services, product):
    first = add(client, None, "retry-3")
    token = first.headers["X-Cart-Token"]
    before = state(services)

    other = add(client, token, "retry-3", qty=2)

    assert other.status_code == 422
    assert other.get_json()["error"]["code"] == "idempotency_key_reused"
    assert state(services) == before


def test_a_key_used_for_an_add_cannot_be_reused_for_a_quantity_change(client, services, product):
    first = add(client, None, "retry-4")
    token = first.headers["X-Cart-Token"]

    other = put(client, token, "retry-4", 1)

    assert other.status_code == 422
    assert other.get_json()["error"]["code"] == "idempotency_key_reused"


def test_another_cart_with_the_same_key_gets_its_own_request(client, services, product, drain):
    mine = add(client, None, "shared-key")
    theirs = add(client, None, "shared-key")

    assert theirs.status_code == 202
    assert theirs.get_json()["job_id"] != mine.get_json()["job_id"]
    drain()
    assert held_units(services) == 2


def test_a_quantity_change_repeated_with_the_same_key_returns_the_same_job(client, services, product, drain):
    token = add(client, None, None).headers["X-Cart-Token"]
    drain()

    first = put(client, token, "qty-1", 3)
    drain()
    again = put(client, token, "qty-1", 3)
    changed = put(client, token, "qty-1", 4)

    assert again.status_code in (200, 202)
    assert again.get_json()["job_id"] == first.get_json()["job_id"]
    assert changed.status_code == 422
    assert changed.get_json()["error"]["code"] == "idempotency_key_reused"
    drain()
    assert held_units(services) == 3


def test_concurrent_duplicates_put_exactly_one_request_in_line(app, client, services, product, drain):
    token = add(client, None, None).headers["X-Cart-Token"]
    drain()
    duplicates = 8
    barrier = threading.Barrier(duplicates)
    answers: list = [None] * duplicates

    def press(index: int) -> None:
        own = app.test_client()
        barrier.wait()
        answers[index] = add(own, token, "double-click", qty=2)

    threads = [threading.Thread(target=press, args=(i,)) for i in range(duplicates)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert {a.status_code for a in answers} <= {200, 202}, [a.get_json() for a in answers]
    assert len({a.get_json()["job_id"] for a in answers}) == 1
    drain()
    assert held_units(services) == 3
    assert services.redis.get(f"shop:lane:sku:{SKU}:ticket") == b"2"


def test_a_retry_after_its_request_was_lost_with_redis_is_put_in_line_again(client, services, product, drain):
    """A Redis failover can keep a fresh claim of the key and lose the request it was claimed for
    (replication is asynchronous). The client's retry with the same key must not wait for the claim
    to expire: it finds no request behind the claim and puts its own in line, once."""
    first = add(client, None, "lost-1")
    token, job_id = first.headers["X-Cart-Token"], first.get_json()["job_id"]
    redis = services.redis
    (claim,) = list(redis.scan_iter("shop:idem:cart:*"))
    redis.delete(f"rq:job:{job_id}")
    redis.lrem(f"rq:queue:sku:{SKU}", 0, job_id)
    redis.expire(claim, 30)  # as fresh as when it was made: its EXPIRE to the results' TTL was lost too
    assert client.get(f"/jobs/{job_id}", headers={"X-Cart-Token": token}).status_code == 404

    again = add(client, token, "lost-1")

    assert again.status_code == 202, again.get_json()
    assert again.get_json()["job_id"] == job_id
    drain()
    assert held_units(services) == 1


def test_a_malformed_key_is_refused(client, product, services):
    before = state(services)

    response = add(client, None, "has spaces in it")

    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_idempotency_key"
    assert state(services) == before
