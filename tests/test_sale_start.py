"""Sale start: a pre-queue before sale_starts_at, drawn by a seeded shuffle, then arrival order."""

from __future__ import annotations

import json
import logging
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from shop.domain.draw import new_seed, shuffled
from shop.domain.requests import sku_lane
from shop.lanes.admission import request_hold
from shop.lanes.keys import lane_key
from shop.lanes.scripts import lua_source
from shop.storage.models import AppliedRequest, utcnow
from tests.helpers import OPERATOR_HEADERS, audit_report, cart, ledger, wait_until


def starting_in(seconds: float) -> str:
    return (utcnow() + timedelta(seconds=seconds)).isoformat()


def sleep_until_started(services, sku: str) -> None:
    """Wait until Redis's clock has passed the SKU's sale start."""
    start_ms = _start_ms(services, sku)
    while True:
        seconds, micros = services.redis.time()
        if seconds * 1000 + micros // 1000 >= start_ms:
            return
        time.sleep(0.05)


def test_a_request_before_the_start_waits_in_the_prequeue_with_a_countdown(
    services, shopper, make_product, drain
):
    make_product("SALE-1", on_hand=5, sale_starts_at=starting_in(30))

    accepted = shopper.add("SALE-1", 1).get_json()

    assert accepted["status"] == "prequeue"
    assert (accepted["position"], accepted["ticket"]) == (None, None)
    assert 25 <= accepted["sale_starts_in_seconds"] <= 30
    assert accepted["odds"]["verdict"] == "likely"  # the whole pre-queue asks for no more than there is
    job = shopper.job(accepted["job_id"]).get_json()
    assert job["status"] == "prequeue" and 25 <= job["sale_starts_in_seconds"] <= 30
    assert job["eta_seconds"] is None
    assert drain() == 0  # nothing is applied before the start
    assert accepted["job_id"] in shopper.cart().get_json()["pending_jobs"]


def test_at_the_start_the_prequeue_is_drawn_from_a_logged_seed_and_later_arrivals_keep_their_order(
    services, make_product, drain, caplog
):
    make_product("SALE-2", on_hand=100, max_per_cart=1, sale_starts_at=starting_in(1.5))
    early = [request_hold(services, cart(n), "SALE-2", 1) for n in range(12)]
    assert all(a.ticket is None for a in early)
    sleep_until_started(services, "SALE-2")

    with caplog.at_level(logging.WARNING, logger="shop.lanes.sales"):
        late = [request_hold(services, cart(100 + n), "SALE-2", 1) for n in range(3)]
    drain()

    rows = ledger(services, "SALE-2")
    opening = next(row for row in rows if row.kind == "open_sale")
    drawn = json.loads(opening.outcome)
    assert (drawn["count"], drawn["first_ticket"]) == (12, opening.ticket + 1)
    logged = [json.loads(r.getMessage()) for r in caplog.records if "sale_opened" in r.getMessage()]
    assert logged == [{"event": "sale_opened", "lane": "sku:SALE-2", "seed": drawn["seed"], "prequeued": 12}]
    assert int(services.redis.hget(lane_key(sku_lane("SALE-2"), "sale"), "seed")) == drawn["seed"]

    by_ticket = {row.request_id: row.ticket for row in rows if row.ticket}
    early_ids = [a.job_id for a in early]
    in_draw_order = sorted(early_ids, key=by_ticket.__getitem__)
    assert in_draw_order == shuffled(early_ids, drawn["seed"])  # reproducible from the seed
    assert in_draw_order != early_ids  # refreshing first gave no advantage
    first = drawn["first_ticket"]
    assert sorted(by_ticket[i] for i in early_ids) == list(range(first, first + 12))
    # Arrivals after the start join behind the whole pre-queue, in their arrival order.
    assert [by_ticket[a.job_id] for a in late] == [drawn["first_ticket"] + 12 + n for n in range(3)]
    assert [a.ticket for a in late] == [by_ticket[a.job_id] for a in late]
    report = audit_report(services)
    assert report.ok, report.violations


def test_the_scheduler_opens_a_sale_at_its_start_even_if_nobody_arrives_after_it(
    services, make_product, spawn
):
    make_product("SALE-3", on_hand=3, max_per_cart=1, sale_starts_at=starting_in(2))
    early = [request_hold(services, cart(n), "SALE-3", 1) for n in range(5)]
    spawn("workers.consumer")
    spawn("workers.schedule")

    wait_until(lambda: all(services.lanes.view(a.job_id).status == "finished" for a in early), 20)
    states = [services.lanes.view(a.job_id) for a in early]
    outcomes = sorted(state.result["outcome"] for state in states)
    assert outcomes == ["held", "held", "held", "sold_out", "sold_out"]
    report = audit_report(services)
    assert report.ok, report.violations


def test_the_audit_finds_a_prequeue_applied_out_of_its_draw(services, make_product, drain):
    make_product("SALE-4", on_hand=10, sale_starts_at=starting_in(1))
    early = [request_hold(services, cart(n), "SALE-4", 1) for n in range(4)]
    sleep_until_started(services, "SALE-4")
    assert services.lanes.open_sale(sku_lane("SALE-4"), _start_ms(services, "SALE-4")) == 4
    drain()
    assert audit_report(services).ok
    first, second = (a.job_id for a in early[:2])
    with services.db.writing() as session, session.begin():
        tickets = dict(
            session.execute(
                select(AppliedRequest.request_id, AppliedRequest.ticket).where(
                    AppliedRequest.request_id.in_([first, second])
                )
            ).all()
        )
        for request_id, other in ((first, second), (second, first)):
            session.execute(
                update(AppliedRequest)
                .where(AppliedRequest.request_id == request_id)
                .values(ticket=tickets[other])
            )

    report = audit_report(services)

    flagged = [v for v in report.violations if "was not applied in the order its draw gives" in v]
    assert flagged, report.violations


def _start_ms(services, sku: str) -> int:
    return int(services.redis.hget("shop:catalog:max_per_cart", sku).decode().split("|")[2])


def test_a_sale_is_opened_once_however_many_callers_race(services, make_product):
    make_product("SALE-5", on_hand=10, sale_starts_at=starting_in(1))
    request_hold(services, cart(1), "SALE-5", 1)
    sleep_until_started(services, "SALE-5")

    results = [services.lanes.open_sale(sku_lane("SALE-5"), _start_ms(services, "SALE-5")) for _ in range(3)]

    assert results == [1, -1, -1]


@pytest.mark.parametrize("size", [0, 1, 2, 7, 50])
def test_the_draw_is_the_same_in_redis_and_in_python(services, size):
    ids = [f"{n * 7919 % 1000:03d}{chr(97 + n % 26)}job-{n}" for n in range(size)]
    script = services.redis.register_script(
        lua_source("draw") + "\nlocal ids = {}\nfor i = 1, #ARGV - 1 do ids[i] = ARGV[i] end\n"
        "return draw(ids, tonumber(ARGV[#ARGV]))"
    )
    for seed in (1, 48271, 2_147_483_646, new_seed()):
        in_redis = [x.decode() for x in script(args=[*ids, seed])]
        assert in_redis == shuffled(ids, seed)


def test_the_operator_sets_and_clears_a_sale_start(client, services, make_product):
    make_product("SALE-6", on_hand=5)

    body = {"sale_starts_at": "2031-11-11T12:00:00+07:00"}
    set_ = client.put("/admin/products/SALE-6", json=body, headers=OPERATOR_HEADERS)

    assert set_.status_code == 200
    assert set_.get_json()["sale_starts_at"] == "2031-11-11T05:00:00+00:00"
    assert client.get("/catalogs/SALE-6").get_json()["sale_starts_at"] == "2031-11-11T05:00:00+00:00"
    assert client.post("/chart", json={"sku": "SALE-6", "qty": 1}).get_json()["status"] == "prequeue"
    naive = client.put(
        "/admin/products/SALE-6", json={"sale_starts_at": "2031-11-11T12:00:00"}, headers=OPERATOR_HEADERS
    )
    assert naive.status_code == 422 and naive.get_json()["error"]["code"] == "invalid_sale_starts_at"
    cleared = client.put("/admin/products/SALE-6", json={"sale_starts_at": None}, headers=OPERATOR_HEADERS)
    assert cleared.get_json()["sale_starts_at"] is None
    # Its pre-queue was drawn at once: the shopper who waited is in line now, ahead of anyone newer.
    assert services.redis.llen(lane_key(sku_lane("SALE-6"), "prequeue")) == 0
    assert services.redis.llen("rq:queue:sku:SALE-6") == 2  # the draw's record, then the request


def test_the_countdown_follows_a_start_the_operator_moves(client, shopper, make_product):
    make_product("SALE-7", on_hand=5, sale_starts_at=starting_in(30))
    job_id = shopper.add("SALE-7", 1).get_json()["job_id"]

    moved = client.put(
        "/admin/products/SALE-7", json={"sale_starts_at": starting_in(120)}, headers=OPERATOR_HEADERS
    )

    assert moved.status_code == 200
    job = shopper.job(job_id).get_json()
    assert job["status"] == "prequeue" and 115 <= job["sale_starts_in_seconds"] <= 120


def test_an_operators_stock_change_before_the_start_is_not_drawn_with_the_shoppers(
    app, client, services, shopper, make_product, drain
):
    app.config["ADMIN_WAIT_SECONDS"] = 0  # no consumer runs during the call: answer 202 at once
    make_product("SALE-8", on_hand=5, sale_starts_at=starting_in(60))
    shopper.add("SALE-8", 1)

    changed = client.put("/admin/products/SALE-8", json={"on_hand": 8}, headers=OPERATOR_HEADERS)

    assert changed.status_code == 202
    drain()
    assert client.get("/catalogs/SALE-8").get_json()["available"] == 8
    assert services.redis.llen(lane_key(sku_lane("SALE-8"), "prequeue")) == 1  # the shopper still waits
