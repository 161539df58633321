"""One cart sending several requests for one SKU in one batch: each decided, one hold, one expiry."""

from __future__ import annotations

import pytest
from rq_scheduler import Scheduler

from shop.storage.models import Hold, HoldStatus, Product
from tests.helpers import assert_audit_clean

BATCH = 200


def _scheduled_expiries(services) -> list[str]:
    members = services.redis.zrange(Scheduler.scheduled_jobs_key, 0, -1)
    return sorted(m.decode() for m in members if m.startswith(b"expire-hold-"))


def _one_hold(services, sku: str) -> Hold:
    with services.db.reading() as session:
        holds = session.query(Hold).filter_by(sku=sku).all()
        assert len(holds) == 1, holds
        session.expunge(holds[0])
        return holds[0]


@pytest.fixture
def sku(make_product):
    return make_product("ONE-CART", on_hand=10, max_per_cart=5)


def test_three_adds_from_one_cart_in_one_batch_are_each_held_in_one_hold(services, shopper, sku, drain):
    accepted = [shopper.add(sku, 1) for _ in range(3)]
    assert [a.status_code for a in accepted] == [202, 202, 202]
    assert drain(batch_size=BATCH) == 3
    results = [shopper.result(a) for a in accepted]
    assert [(r["outcome"], r["qty"], r["added"]) for r in results] == [
        ("held", 1, 1),
        ("held", 2, 1),
        ("held", 3, 1),
    ]
    hold = _one_hold(services, sku)
    assert {r["hold_id"] for r in results} == {hold.id}
    assert (hold.status, hold.qty) == (HoldStatus.ACTIVE, 3)
    assert _scheduled_expiries(services) == [f"expire-hold-{hold.id}"]
    with services.db.reading() as session:
        assert session.get(Product, sku).reserved == 3
    assert_audit_clean(services)


def test_an_add_then_a_quantity_change_from_one_cart_in_one_batch_end_in_one_hold(
    services, shopper, sku, drain
):
    added = shopper.add(sku, 1)
    changed = shopper.set_qty(sku, 4)
    assert drain(batch_size=BATCH) == 2
    first, second = shopper.result(added), shopper.result(changed)
    assert (first["outcome"], first["qty"], first["added"]) == ("held", 1, 1)
    assert (second["outcome"], second["qty"], second["added"]) == ("held", 4, 3)
    hold = _one_hold(services, sku)
    assert first["hold_id"] == second["hold_id"] == hold.id
    assert (hold.status, hold.qty) == (HoldStatus.ACTIVE, 4)
    assert _scheduled_expiries(services) == [f"expire-hold-{hold.id}"]
    assert_audit_clean(services)


def test_an_add_then_a_removal_from_one_cart_in_one_batch_return_the_unit(services, shopper, sku, drain):
    added = shopper.add(sku, 2)
    removed = shopper.set_qty(sku, 0)
    assert drain(batch_size=BATCH) == 2
    first, second = shopper.result(added), shopper.result(removed)
    assert (first["outcome"], first["qty"], first["added"]) == ("held", 2, 2)
    assert (second["outcome"], second["released"]) == ("released", 2)
    hold = _one_hold(services, sku)
    assert hold.status == HoldStatus.RELEASED
    # The expiry scheduled for the batch's hold is a no-op when it runs (the hold is released).
    assert _scheduled_expiries(services) == [f"expire-hold-{hold.id}"]
    with services.db.reading() as session:
        assert session.get(Product, sku).reserved == 0
    assert_audit_clean(services)


def test_two_carts_each_adding_twice_in_one_batch_get_one_hold_each(services, new_shopper, sku, drain):
    one, two = new_shopper(), new_shopper()
    steps = [(one, 1), (two, 1), (one, 1), (two, 2)]
    accepted = [(who, who.add(sku, qty)) for who, qty in steps]
    assert drain(batch_size=BATCH) == 4
    results = [who.result(response) for who, response in accepted]
    assert [(r["outcome"], r["qty"]) for r in results] == [("held", 1), ("held", 1), ("held", 2), ("held", 3)]
    with services.db.reading() as session:
        holds = session.query(Hold).filter_by(sku=sku).order_by(Hold.id).all()
        assert [h.qty for h in holds] == [2, 3]
        expected = [f"expire-hold-{h.id}" for h in holds]
    assert _scheduled_expiries(services) == sorted(expected)
    assert_audit_clean(services)


def test_every_expiry_a_batch_schedules_is_the_job_rq_would_make(services, new_shopper, sku, drain):
    from rq.job import Job

    from shop.lanes.keys import JOB_FUNC_PREFIX

    shoppers = [new_shopper() for _ in range(3)]
    for who in shoppers:
        who.add(sku, 1)
    assert drain(batch_size=BATCH) == 3
    with services.db.reading() as session:
        holds = session.query(Hold).filter_by(sku=sku).order_by(Hold.id).all()
    assert _scheduled_expiries(services) == sorted(f"expire-hold-{h.id}" for h in holds)
    for hold in holds:
        job = Job.fetch(f"expire-hold-{hold.id}", connection=services.redis)
        assert job.func_name == JOB_FUNC_PREFIX + "expire_hold"
        assert job.kwargs == {"hold_id": hold.id, "sku": sku}
        assert job.description == f"expire_hold hold_id={hold.id} sku={sku}"
        made = Job.create(
            job.func_name,
            kwargs=job.kwargs,
            connection=services.redis,
            id=job.id,
            status=job.get_status(),
            origin=job.origin,
            description=job.description,
        ).to_dict()
        stored = {k.decode(): v for k, v in services.redis.hgetall(job.key).items()}
        assert sorted(stored) == sorted(made)
        encode = services.redis.connection_pool.get_encoder().encode
        # Only the moment it was made may differ (data is compared above, as what it decodes to).
        assert {f: stored[f] for f in made if f != "created_at"} == {
            f: encode(v) for f, v in made.items() if f != "created_at"
        }
