"""A flash-sale spike through the real stack: HTTP, Redis lanes, two consumer processes, the database."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from shop.lanes.admission import request_receipt
from shop.storage.models import Hold, HoldStatus, Product, StockLocation
from tests.helpers import assert_audit_clean
from tests.http_server import call, serve

UNITS = 37
REQUESTS = 500
CLIENT_THREADS = 32


def _post_hold(host: str, index: int) -> dict:
    qty = 1 if index % 3 else 2
    status, headers, body = call(host, "POST", "/chart", {"sku": "HOT-1", "qty": qty})
    assert status == 202, body
    return {"job_id": body["job_id"], "ticket": body["ticket"], "qty": qty, "token": headers["X-Cart-Token"]}


def _wait_for_answers(host: str, jobs: list[dict], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    pending = list(jobs)
    while pending and time.monotonic() < deadline:
        still = []
        for job in pending:
            status, _headers, body = call(
                host, "GET", f"/jobs/{job['job_id']}", headers={"X-Cart-Token": job["token"]}
            )
            assert status == 200, body
            if body["status"] == "finished":
                job["result"] = body["result"]
            else:
                still.append(job)
        pending = still
        if pending:
            time.sleep(0.2)
    assert not pending, f"{len(pending)} requests never answered"


def test_a_spike_of_500_requests_holds_exactly_the_37_units_in_line_order(app, services, make_product, spawn):
    make_product("HOT-1", on_hand=UNITS, max_per_cart=2)
    spawn("workers.consumer")
    spawn("workers.consumer")
    with serve(app) as host, ThreadPoolExecutor(CLIENT_THREADS) as pool:
        jobs = list(pool.map(lambda i: _post_hold(host, i), range(REQUESTS)))
        _wait_for_answers(host, jobs)

    outcomes = [job["result"]["outcome"] for job in jobs]
    assert set(outcomes) <= {"held", "sold_out", "insufficient"}
    held_units = sum(job["qty"] for job in jobs if job["result"]["outcome"] == "held")
    assert held_units == UNITS

    # First come, first served: a later ticket never got units that an earlier one asked for in vain.
    by_ticket = sorted(jobs, key=lambda job: job["ticket"])
    for qty in (1, 2):
        refused_tickets = [
            j["ticket"] for j in by_ticket if j["qty"] == qty and j["result"]["outcome"] != "held"
        ]
        if refused_tickets:
            first_refused = refused_tickets[0]
            later_winners = [
                j
                for j in by_ticket
                if j["qty"] == qty and j["ticket"] > first_refused and j["result"]["outcome"] == "held"
            ]
            assert not later_winners, f"qty {qty}: tickets after {first_refused} were served first"
    assert len({job["ticket"] for job in jobs}) == REQUESTS

    with services.db.reading() as session:
        product = session.get(Product, "HOT-1")
        assert (product.on_hand, product.reserved) == (UNITS, UNITS)
        active = session.query(Hold).filter_by(sku="HOT-1", status=HoldStatus.ACTIVE).count()
        assert active == sum(1 for job in jobs if job["result"]["outcome"] == "held")
    assert_audit_clean(services)


def _post_mixed_hold(host: str, index: int) -> dict:
    """Every third shopper asks for a pair (2 pieces), the others for one piece."""
    uom = "pcs" if index % 3 else "pair"
    status, headers, body = call(host, "POST", "/chart", {"sku": "HOT-2", "qty": 1, "uom": uom})
    assert status == 202, body
    qty = 1 if uom == "pcs" else 2
    return {"job_id": body["job_id"], "ticket": body["ticket"], "qty": qty, "token": headers["X-Cart-Token"]}


def test_a_spike_over_two_locations_in_mixed_units_holds_exactly_the_units_there(
    app, services, make_product, spawn, drain
):
    make_product("HOT-2", on_hand=20, max_per_cart=2, location="JKT", uoms=[{"uom": "pair", "conversion": 2}])
    request_receipt(services, "HOT-2", "SBY", UNITS - 20)
    drain()
    spawn("workers.consumer")
    spawn("workers.consumer")
    with serve(app) as host, ThreadPoolExecutor(CLIENT_THREADS) as pool:
        jobs = list(pool.map(lambda i: _post_mixed_hold(host, i), range(REQUESTS)))
        _wait_for_answers(host, jobs)

    held_units = sum(job["qty"] for job in jobs if job["result"]["outcome"] == "held")
    assert held_units == UNITS
    with services.db.reading() as session:
        rows = session.query(StockLocation).filter_by(sku="HOT-2").all()
        assert {r.location_code: (r.on_hand, r.reserved) for r in rows} == {"JKT": (20, 20), "SBY": (17, 17)}
    assert_audit_clean(services)
