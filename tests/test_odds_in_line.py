"""Honest odds and wait estimates: what a shopper in line is told, as the line moves (tests/test_odds.py
has the rules as plain functions)."""

from __future__ import annotations

from sqlalchemy import event

from shop.domain.requests import sku_lane
from shop.lanes.admission import request_hold
from shop.lanes.keys import lane_key
from tests.helpers import cart


def test_a_joiner_is_told_units_available_held_and_the_quantity_asked_for_ahead(
    shopper, new_shopper, make_product
):
    make_product("ODDS-1", on_hand=5)
    new_shopper().add("ODDS-1", 2)

    body = shopper.add("ODDS-1", 1).get_json()

    assert body["odds"] == {
        "available": 5,
        "held": 0,
        "requested_ahead": 2,
        "verdict": "likely",
        "waitlist": False,
    }
    job = shopper.job(body["job_id"]).get_json()
    assert job["odds"] == body["odds"]


def test_the_verdict_says_when_only_returns_could_serve_you_and_when_you_are_on_the_waitlist(
    services, shopper, new_shopper, make_product, drain
):
    make_product("ODDS-2", on_hand=3)
    new_shopper().add("ODDS-2", 2)
    drain()  # 2 held in a cart, 1 available
    first = new_shopper().add("ODDS-2", 1).get_json()
    second = new_shopper().add("ODDS-2", 1).get_json()
    third = shopper.add("ODDS-2", 2).get_json()

    assert (first["odds"]["available"], first["odds"]["held"]) == (1, 2)
    assert first["odds"]["verdict"] == "likely"
    assert second["odds"]["verdict"] == "uncertain"  # 2 needed, 1 available, 2 may come back
    # 1 + 1 ahead and 2 for this one: more than the 3 that exist, returns included. Told at once.
    assert third["odds"]["verdict"] == "unlikely"
    assert third["odds"]["waitlist"] is True
    assert shopper.job(third["job_id"]).get_json()["odds"]["waitlist"] is True


def test_odds_follow_the_line_as_it_moves(services, shopper, make_product, serve_one):
    make_product("ODDS-3", on_hand=4)
    for n in range(3):
        request_hold(services, cart(n), "ODDS-3", 1)
    job_id = shopper.add("ODDS-3", 2).get_json()["job_id"]

    seen = []
    for _ in range(3):
        job = shopper.job(job_id).get_json()
        seen.append((job["position"], job["odds"]["requested_ahead"], job["odds"]["available"]))
        assert serve_one("ODDS-3") == 1
    job = shopper.job(job_id).get_json()
    seen.append((job["position"], job["odds"]["requested_ahead"], job["odds"]["available"]))
    verdict = job["odds"]["verdict"]

    assert seen == [(3, 3, 4), (2, 2, 3), (1, 1, 2), (0, 0, 1)]
    assert verdict == "uncertain"  # 2 wanted, 1 available: only if some of the 3 held units come back
    assert serve_one("ODDS-3") == 1
    done = shopper.job(job_id).get_json()
    assert done["result"]["outcome"] == "insufficient"
    assert done["odds"] is None and done["eta_seconds"] is None


def test_the_wait_estimate_is_a_range_from_the_lanes_measured_apply_rate(
    services, shopper, make_product, drain
):
    make_product("ETA-1", on_hand=1000, max_per_cart=1000)
    for n in range(20):
        request_hold(services, cart(n), "ETA-1", 1)
    drain(batch_size=5)
    rate = float(services.redis.hget(lane_key(sku_lane("ETA-1"), "stats"), "rate"))
    assert rate > 0

    services.lanes.pause(sku_lane("ETA-1"))
    for n in range(20, 40):
        request_hold(services, cart(n), "ETA-1", 1)
    paused = shopper.add("ETA-1", 1).get_json()
    assert paused["eta_seconds"] is None  # nobody is served while the line is paused

    services.lanes.resume(sku_lane("ETA-1"))
    services.redis.hset(lane_key(sku_lane("ETA-1"), "stats"), "rate", "10.00")
    job = shopper.job(paused["job_id"]).get_json()
    assert job["position"] == 20
    assert job["eta_seconds"] == {"low": 1, "high": 4}  # 21 places at 10/s: about 2 s, as 1-4 s


def test_the_job_view_reads_one_redis_round_trip_and_never_the_database(
    services, shopper, make_product, monkeypatch
):
    make_product("ODDS-4", on_hand=5)
    job_id = shopper.add("ODDS-4", 1).get_json()["job_id"]
    calls = []
    original = services.redis.execute_command
    monkeypatch.setattr(
        services.redis, "execute_command", lambda *a, **k: calls.append(a[0]) or original(*a, **k)
    )
    queries = []

    def record(_conn, _cursor, statement, *_rest) -> None:
        queries.append(statement)

    event.listen(services.db.engine, "before_cursor_execute", record)
    try:
        job = shopper.job(job_id).get_json()
    finally:
        event.remove(services.db.engine, "before_cursor_execute", record)
    assert job["odds"]["verdict"] == "likely"
    assert calls == ["EVALSHA"]
    assert queries == []
