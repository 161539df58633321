"""The operator API (PUT /admin/products/<sku>) and the health probes.

Stock changes of an existing product go through the SKU's line, and the view waits for their turn:
tests that change stock run a real consumer process.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from config import TestConfig as ShopTestConfig
from shop import create_app
from shop.storage.models import Product
from tests.helpers import OPERATOR, error_code, product_row

NEW_PRODUCT = {"name": "Flash Phone", "category": "electronic", "price": 1_500_000, "on_hand": 7}


def put(client, sku: str, body=None, auth=OPERATOR, **kwargs):
    if body is not None:
        kwargs["json"] = body
    return client.put(f"/admin/products/{sku}", auth=auth, **kwargs)


def columns(product: Product) -> dict:
    return {
        name: getattr(product, name)
        for name in (
            "name",
            "category",
            "price",
            "description",
            "image",
            "max_per_cart",
            "on_hand",
            "reserved",
            "sales",
        )
    }


def catalog_item(client, sku: str) -> dict | None:
    items = client.get("/catalogs", query_string={"limit": 100}).get_json()["items"]
    return next((item for item in items if item["sku"] == sku), None)


@pytest.fixture
def existing(client):
    """A product the operator created: 10 on hand, Rp 100.000."""
    body = {"name": "Flash Watch", "category": "electronic", "price": 100_000, "on_hand": 10}
    response = put(client, "WATCH-1", body)
    assert response.status_code == 201, response.get_json()
    return "WATCH-1"


# --- authentication -------------------------------------------------------------------------------


def test_without_credentials_the_operator_api_asks_for_them(client, services):
    response = put(client, "NEW-1", NEW_PRODUCT, auth=None)

    assert response.status_code == 401
    assert error_code(response) == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Basic ")
    assert product_row(services, "NEW-1") is None


@pytest.mark.parametrize(
    "auth",
    [
        pytest.param(("operator", "wrong-password"), id="wrong password"),
        pytest.param(("intruder", "test-operator-password"), id="wrong user"),
        pytest.param(("operator", ""), id="empty password"),
        pytest.param(("", ""), id="empty user and password"),
    ],
)
def test_wrong_credentials_are_refused(client, services, auth):
    response = put(client, "NEW-1", NEW_PRODUCT, auth=auth)

    assert response.status_code == 401
    assert error_code(response) == "unauthorized"
    assert "WWW-Authenticate" in response.headers
    assert product_row(services, "NEW-1") is None


def test_a_bearer_token_is_not_operator_credentials(client, services):
    response = client.put(
        "/admin/products/NEW-1", json=NEW_PRODUCT, headers={"Authorization": "Bearer test-operator-password"}
    )

    assert response.status_code == 401
    assert product_row(services, "NEW-1") is None


def test_without_a_configured_password_the_operator_api_does_not_exist(config, services):
    app = create_app(
        ShopTestConfig(DATABASE_URL=config.DATABASE_URL, REDIS_URL=config.REDIS_URL, OPERATOR_PASSWORD=""),
        services=services,
    )

    response = put(app.test_client(), "NEW-1", NEW_PRODUCT, auth=("operator", ""))

    assert response.status_code == 404
    assert "WWW-Authenticate" not in response.headers
    assert product_row(services, "NEW-1") is None


# --- creating products ----------------------------------------------------------------------------


def test_the_operator_creates_a_product(client, services):
    response = put(client, "NEW-1", NEW_PRODUCT)

    assert response.status_code == 201
    body = response.get_json()
    assert body["sku"] == "NEW-1"
    assert body["name"] == "Flash Phone"
    assert body["price"] == 1_500_000
    assert body["available"] == 7
    assert body["max_per_cart"] == 5
    assert body["stock_change"] is None
    row = product_row(services, "NEW-1")
    assert (row.on_hand, row.reserved, row.sales) == (7, 0, 0)


def test_a_created_product_appears_in_the_catalog_with_its_available_count(client):
    put(client, "NEW-1", NEW_PRODUCT)

    item = catalog_item(client, "NEW-1")

    assert item is not None
    assert item["available"] == 7
    assert item["name"] == "Flash Phone"


def test_a_created_product_can_be_put_in_a_cart_at_once(client, shopper, drain):
    put(client, "NEW-1", NEW_PRODUCT)

    accepted = shopper.add("NEW-1", 2)
    drain()

    assert shopper.result(accepted)["outcome"] == "held"
    assert client.get("/catalogs/NEW-1").get_json()["available"] == 5


def test_a_product_created_without_on_hand_has_no_stock(client, services):
    body = {k: v for k, v in NEW_PRODUCT.items() if k != "on_hand"}

    response = put(client, "NEW-1", body)

    assert response.status_code == 201
    assert response.get_json()["available"] == 0
    assert product_row(services, "NEW-1").on_hand == 0


@pytest.mark.parametrize(
    "missing",
    [["name"], ["category"], ["price"], ["name", "category", "price"]],
    ids=lambda m: "+".join(m),
)
def test_creating_a_product_without_name_category_or_price_is_refused(client, services, missing):
    body = {k: v for k, v in NEW_PRODUCT.items() if k not in missing}

    response = put(client, "NEW-1", body)

    assert response.status_code == 422
    assert error_code(response) == "missing_fields"
    assert response.get_json()["error"]["details"]["missing"] == missing
    assert product_row(services, "NEW-1") is None


# --- updating products ----------------------------------------------------------------------------


def test_the_operator_updates_name_and_price(client, services, existing):
    response = put(client, existing, {"name": "Flash Watch 2", "price": 90_000})

    assert response.status_code == 200
    body = response.get_json()
    assert body["name"] == "Flash Watch 2"
    assert body["price"] == 90_000
    assert body["available"] == 10
    assert body["stock_change"] is None
    row = product_row(services, existing)
    assert (row.name, row.price, row.on_hand) == ("Flash Watch 2", 90_000, 10)
    assert catalog_item(client, existing)["price"] == 90_000


def test_the_operator_changes_stock_through_the_skus_line(client, services, existing, consumer):
    response = put(client, existing, {"on_hand": 25})

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["available"] == 25
    assert body["stock_change"]["outcome"] == "stock_set"
    assert body["stock_change"]["on_hand"] == 25
    assert product_row(services, existing).on_hand == 25
    assert catalog_item(client, existing)["available"] == 25


def test_a_stock_change_counts_units_held_in_carts(client, services, existing, shopper, drain, spawn):
    accepted = shopper.add(existing, 3)
    drain()
    assert shopper.result(accepted)["outcome"] == "held"
    spawn("workers.consumer")

    response = put(client, existing, {"on_hand": 5})

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["available"] == 2
    row = product_row(services, existing)
    assert (row.on_hand, row.reserved) == (5, 3)


def test_stock_below_the_reserved_units_is_refused_and_nothing_changes(
    client, services, existing, shopper, drain, spawn
):
    accepted = shopper.add(existing, 3)
    drain()
    assert shopper.result(accepted)["outcome"] == "held"
    spawn("workers.consumer")
    before = columns(product_row(services, existing))

    response = put(client, existing, {"on_hand": 2})

    assert response.status_code == 409, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "below_reserved"
    assert error["details"]["reserved"] == 3
    assert error["details"]["requested"] == 2
    assert columns(product_row(services, existing)) == before
    assert catalog_item(client, existing)["available"] == 7


def test_a_refused_stock_change_does_not_apply_the_other_fields_of_the_request(
    client, services, existing, shopper, drain, spawn
):
    accepted = shopper.add(existing, 3)
    drain()
    assert shopper.result(accepted)["outcome"] == "held"
    spawn("workers.consumer")
    before = columns(product_row(services, existing))

    response = put(client, existing, {"on_hand": 2, "name": "Renamed", "price": 1})

    assert response.status_code == 409, response.get_json()
    assert error_code(response) == "below_reserved"
    assert columns(product_row(services, existing)) == before


def test_a_stock_change_not_applied_in_time_is_answered_202_and_applied_later(config, services, drain):
    app = create_app(
        ShopTestConfig(DATABASE_URL=config.DATABASE_URL, REDIS_URL=config.REDIS_URL, ADMIN_WAIT_SECONDS=0),
        services=services,
    )
    client = app.test_client()
    put(client, "NEW-1", NEW_PRODUCT)

    response = put(client, "NEW-1", {"on_hand": 20})

    assert response.status_code == 202
    change = response.get_json()["stock_change"]
    assert change["outcome"] == "queued"
    assert change["job_id"]
    assert product_row(services, "NEW-1").on_hand == 7
    drain()
    assert product_row(services, "NEW-1").on_hand == 20


# --- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        pytest.param({"price": -1}, 422, "invalid_price", id="negative price"),
        pytest.param({"price": 1.5}, 422, "invalid_price", id="fractional price"),
        pytest.param({"price": "100"}, 422, "invalid_price", id="price as text"),
        pytest.param({"price": True}, 422, "invalid_price", id="price as boolean"),
        pytest.param({"max_per_cart": 0}, 422, "invalid_max_per_cart", id="max_per_cart 0"),
        pytest.param({"max_per_cart": 1001}, 422, "invalid_max_per_cart", id="max_per_cart too high"),
        pytest.param({"on_hand": -1}, 422, "invalid_on_hand", id="negative on_hand"),
        pytest.param({"name": ""}, 422, "invalid_name", id="empty name"),
        pytest.param({"name": "   "}, 422, "invalid_name", id="blank name"),
        pytest.param({"name": "x" * 201}, 422, "invalid_name", id="name too long"),
        pytest.param({"name": 5}, 422, "invalid_name", id="name not text"),
        pytest.param({"category": ""}, 422, "invalid_category", id="empty category"),
        pytest.param({"description": None}, 422, "invalid_description", id="null description"),
        pytest.param({"colour": "red"}, 400, "unknown_fields", id="unknown field"),
        pytest.param({"sku": "OTHER"}, 400, "unknown_fields", id="sku in body"),
    ],
)
def test_an_invalid_product_body_is_refused_and_nothing_changes(
    client, services, existing, body, status, code
):
    before = columns(product_row(services, existing))

    response = put(client, existing, body)

    assert response.status_code == status
    assert error_code(response) == code
    assert columns(product_row(services, existing)) == before


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        pytest.param("{broken", "application/json", id="broken json"),
        pytest.param('["name"]', "application/json", id="json array"),
        pytest.param("", "application/json", id="empty body"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_a_bad_request(client, services, existing, data, content_type):
    before = columns(product_row(services, existing))

    response = put(client, existing, data=data, content_type=content_type)

    assert response.status_code == 400
    assert error_code(response) == "invalid_json"
    assert columns(product_row(services, existing)) == before


def test_an_invalid_new_product_is_not_created(client, services):
    response = put(client, "NEW-1", {**NEW_PRODUCT, "price": -1})

    assert response.status_code == 422
    assert product_row(services, "NEW-1") is None


@pytest.mark.parametrize("sku", ["-starts-with-dash", "has space", "x" * 65])
def test_a_malformed_sku_is_refused(client, services, sku):
    response = put(client, sku, NEW_PRODUCT)

    assert response.status_code == 422
    assert error_code(response) == "unknown_sku"
    with services.db.reading() as session:
        assert session.scalars(select(Product)).all() == []


# --- health ---------------------------------------------------------------------------------------


def test_the_shop_is_alive(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_the_shop_is_ready_when_redis_and_the_database_answer(client):
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ready", "checks": {"redis": "ok", "database": "ok"}}
