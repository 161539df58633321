"""Sale rules from the database decide at apply time; a queued operator change refreshes Redis's cache."""

from __future__ import annotations

from datetime import timedelta

from babel.dates import format_date

from shop.domain.requests import sku_lane
from shop.lanes.keys import CATALOG_HASH
from shop.storage.models import Hold, utcnow
from tests.helpers import OPERATOR, Visitor, assert_audit_clean, job_id_of, text_of

SKU = "RULES-1"


def test_a_queued_sale_start_refuses_a_shopper_in_line_behind_it_and_reaches_the_cache(
    config, services, client, make_product, shopper, drain
):
    config.ADMIN_WAIT_SECONDS = 0
    make_product(SKU, on_hand=5, max_per_cart=2)
    services.lanes.pause(sku_lane(SKU))
    starts = (utcnow() + timedelta(hours=1)).replace(microsecond=0)
    body = {"on_hand": 10, "sale_starts_at": starts.isoformat()}
    change = client.put(f"/admin/products/{SKU}", json=body, auth=OPERATOR)
    assert change.status_code == 202, change.get_json()
    # Redis still has no start: the admission script lets the shopper into the line behind it.
    early = shopper.add(SKU, 1)
    assert early.status_code == 202 and early.get_json()["status"] == "queued"
    services.lanes.resume(sku_lane(SKU))
    drain()
    assert shopper.result(early)["outcome"] == "sale_not_started"
    cached = services.redis.hget(CATALOG_HASH, SKU).decode()
    assert cached == f"2|0|{int(starts.timestamp() * 1000)}|pcs"
    with services.db.reading() as session:
        assert session.query(Hold).count() == 0
    assert_audit_clean(services)


def test_a_queued_lower_cart_limit_refuses_a_shopper_in_line_behind_it(
    config, services, client, make_product, shopper, drain
):
    config.ADMIN_WAIT_SECONDS = 0
    make_product(SKU, on_hand=5, max_per_cart=3)
    services.lanes.pause(sku_lane(SKU))
    change = client.put(f"/admin/products/{SKU}", json={"on_hand": 5, "max_per_cart": 1}, auth=OPERATOR)
    assert change.status_code == 202
    two = shopper.add(SKU, 2)
    assert two.status_code == 202
    services.lanes.resume(sku_lane(SKU))
    drain()
    assert shopper.result(two)["outcome"] == "limit_exceeded"
    assert services.redis.hget(CATALOG_HASH, SKU).decode().startswith("1|")
    assert_audit_clean(services)


def test_a_queued_per_customer_limit_refuses_a_shopper_in_line_behind_it(
    config, services, client, make_product, drain
):
    config.ADMIN_WAIT_SECONDS = 0
    config.TRUST_CUSTOMER_ID = True
    make_product(SKU, on_hand=5, max_per_cart=3)
    first = client.post("/chart", json={"sku": SKU, "qty": 2}, headers={"X-Customer-Id": "c-1"})
    drain()
    services.lanes.pause(sku_lane(SKU))
    change = client.put(f"/admin/products/{SKU}", json={"on_hand": 5, "max_per_customer": 2}, auth=OPERATOR)
    assert change.status_code == 202
    # Another cart of the same shopper, admitted before Redis knows the limit.
    second = client.post("/chart", json={"sku": SKU, "qty": 1}, headers={"X-Customer-Id": "c-1"})
    assert first.status_code == second.status_code == 202
    services.lanes.resume(sku_lane(SKU))
    drain()
    token = {"X-Cart-Token": second.headers["X-Cart-Token"]}
    result = client.get(f"/jobs/{second.get_json()['job_id']}", headers=token).get_json()["result"]
    assert (result["outcome"], result["customer_has"]) == ("customer_limit_exceeded", 2)
    assert services.redis.hget(CATALOG_HASH, SKU).decode().startswith("3|2|")
    assert_audit_clean(services)


def test_a_shopper_refused_before_the_sale_starts_is_told_when_it_starts(
    config, services, client, make_product, drain
):
    config.ADMIN_WAIT_SECONDS = 0
    make_product(SKU, on_hand=5)
    services.lanes.pause(sku_lane(SKU))
    starts = (utcnow() + timedelta(days=1)).replace(hour=3, minute=0, second=0, microsecond=0)
    change = client.put(
        f"/admin/products/{SKU}", json={"on_hand": 6, "sale_starts_at": starts.isoformat()}, auth=OPERATOR
    )
    assert change.status_code == 202, change.get_json()
    visitor = Visitor(client)
    waiting = visitor.add(SKU, 1)
    services.lanes.resume(sku_lane(SKU))
    drain()
    page = text_of(visitor.page(waiting))  # Indonesian by default
    assert "Penjualan belum dimulai" in page
    # Babel's Indonesian date and time (CLDR: "4 Des 2026", "10.00"), in Jakarta's zone.
    assert format_date(starts.date(), "medium", locale="id") + " 10.00 WIB" in page
    status = client.get(f"/wait/{job_id_of(waiting)}/status").get_json()
    assert "Penjualan belum dimulai" in status["html"] and "10.00 WIB" in status["html"]


def test_a_queued_rule_change_keeps_the_products_units_in_the_cache(
    config, services, client, make_product, drain
):
    config.ADMIN_WAIT_SECONDS = 0
    make_product(SKU, on_hand=24, max_per_cart=24, uoms=[{"uom": "box", "conversion": 12}])
    change = client.put(f"/admin/products/{SKU}", json={"on_hand": 24, "max_per_cart": 12}, auth=OPERATOR)
    assert change.status_code in (200, 202), change.get_json()
    drain()
    cached = services.redis.hget(CATALOG_HASH, SKU).decode()
    assert cached == "12|0|0|pcs|box=12"
