"""Per-shopper limits across carts: max_per_customer, enforced at enqueue (Redis) and at apply (database)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from shop.domain.requests import sku_lane
from shop.lanes.expiry import sweep
from shop.lanes.keys import lane_key
from shop.storage.models import Hold
from tests.helpers import OPERATOR_HEADERS, assert_audit_clean, wait_until


class Cart:
    """One cart of a shopper, who may name themselves with X-Customer-Id and come from an address."""

    def __init__(self, client, customer: str | None = None, address: str = "127.0.0.1") -> None:
        self.client = client
        self.customer = customer
        self.address = address
        self.token: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        headers = {"X-Customer-Id": self.customer} if self.customer else {}
        if self.token:
            headers["X-Cart-Token"] = self.token
        return headers

    def _send(self, method: str, path: str, **kwargs):
        response = self.client.open(
            path, method=method, headers=self.headers, environ_base={"REMOTE_ADDR": self.address}, **kwargs
        )
        self.token = response.headers.get("X-Cart-Token", self.token)
        return response

    def add(self, sku: str, qty: int):
        return self._send("POST", "/chart", json={"sku": sku, "qty": qty})

    def set_qty(self, sku: str, qty: int):
        return self._send("PUT", f"/chart/{sku}/{qty}")

    def outcome(self, response) -> dict:
        job = self._send("GET", f"/jobs/{response.get_json()['job_id']}").get_json()
        assert job["status"] == "finished", job
        return job["result"]


@pytest.fixture
def trusted(config):
    config.TRUST_CUSTOMER_ID = True


@pytest.fixture
def limited(make_product):
    return make_product("LIM-1", on_hand=20, max_per_cart=3, max_per_customer=2)


def refusal(response) -> dict:
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    return {"code": error["code"], **error["details"]}


def test_the_per_customer_limit_holds_across_two_carts_of_the_same_shopper(trusted, client, limited, drain):
    first, second = Cart(client, "customer-7"), Cart(client, "customer-7")
    held = first.add(limited, 2)
    drain()
    assert first.outcome(held)["outcome"] == "held"

    refused = second.add(limited, 1)

    assert refusal(refused) == {
        "code": "customer_limit_exceeded",
        "max_per_customer": 2,
        "customer_has": 2,
    }
    someone_else = Cart(client, "customer-8")
    accepted = someone_else.add(limited, 2)
    drain()
    assert someone_else.outcome(accepted)["outcome"] == "held"


def test_requests_still_in_line_count_toward_the_limit(trusted, client, limited):
    first, second = Cart(client, "customer-7"), Cart(client, "customer-7")
    assert first.add(limited, 1).status_code == 202
    assert second.add(limited, 1).status_code == 202

    assert refusal(Cart(client, "customer-7").add(limited, 1))["customer_has"] == 2


def test_the_database_refuses_what_redis_no_longer_counts(trusted, client, services, limited, drain):
    first, second = Cart(client, "customer-7"), Cart(client, "customer-7")
    first.add(limited, 2)
    drain()
    services.redis.delete(lane_key(sku_lane(limited), "shoppers"))  # as after a Redis restart

    admitted = second.add(limited, 1)
    assert admitted.status_code == 202
    drain()

    assert second.outcome(admitted) == {
        "outcome": "customer_limit_exceeded",
        "sku": limited,
        "max_per_customer": 2,
        "customer_has": 2,
    }
    assert_audit_clean(services)


def test_a_quantity_change_in_another_cart_is_held_to_the_limit_at_apply(trusted, client, limited, drain):
    first, second = Cart(client, "customer-7"), Cart(client, "customer-7")
    first.add(limited, 1)
    second.add(limited, 1)
    drain()

    raised = second.set_qty(limited, 2)  # 1 + 2 > 2: only the database sees both carts' lines
    drain()

    assert second.outcome(raised)["outcome"] == "customer_limit_exceeded"
    lowered = first.set_qty(limited, 0)
    drain()
    assert first.outcome(lowered)["outcome"] == "released"
    raised_again = second.set_qty(limited, 2)
    drain()
    assert second.outcome(raised_again)["outcome"] == "held"


def test_units_given_back_free_the_limit(trusted, client, services, limited, drain):
    first, second = Cart(client, "customer-7"), Cart(client, "customer-7")
    first.add(limited, 2)
    drain()
    first.set_qty(limited, 0)
    drain()

    accepted = second.add(limited, 2)

    assert accepted.status_code == 202
    drain()
    assert second.outcome(accepted)["outcome"] == "held"
    with services.db.reading() as session:
        keys = {hold.shopper_key for hold in session.query(Hold)}
    assert len(keys) == 1 and next(iter(keys)).startswith("c-")  # a keyed hash, not the id itself


def test_without_a_customer_id_the_client_address_is_the_shopper(client, limited, drain):
    first, second = Cart(client, address="10.0.0.7"), Cart(client, address="10.0.0.7")
    first.add(limited, 2)
    drain()

    assert refusal(second.add(limited, 1))["code"] == "customer_limit_exceeded"
    assert Cart(client, address="10.0.0.8").add(limited, 1).status_code == 202


def test_an_untrusted_customer_id_cannot_dodge_the_limit(client, limited, drain):
    first = Cart(client, "customer-1", address="10.0.0.9")
    first.add(limited, 2)
    drain()

    assert refusal(Cart(client, "customer-2", address="10.0.0.9").add(limited, 1))["customer_has"] == 2


def test_a_malformed_trusted_customer_id_is_a_bad_request(trusted, client, limited):
    response = Cart(client, "has spaces").add(limited, 1)

    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_customer_id"


def test_the_operator_sets_and_clears_the_per_customer_limit(client, services, make_product):
    make_product("LIM-2", on_hand=5)
    auth = OPERATOR_HEADERS

    limited = client.put("/admin/products/LIM-2", json={"max_per_customer": 1}, headers=auth)
    assert limited.status_code == 200 and limited.get_json()["max_per_customer"] == 1
    assert client.get("/catalogs/LIM-2").get_json()["max_per_customer"] == 1
    Cart(client, address="10.0.1.1").add("LIM-2", 1)
    assert refusal(Cart(client, address="10.0.1.1").add("LIM-2", 1))["max_per_customer"] == 1

    cleared = client.put("/admin/products/LIM-2", json={"max_per_customer": None}, headers=auth)
    assert cleared.get_json()["max_per_customer"] is None
    assert Cart(client, address="10.0.1.1").add("LIM-2", 1).status_code == 202
    bad = client.put("/admin/products/LIM-2", json={"max_per_customer": 0}, headers=auth)
    assert bad.status_code == 422 and bad.get_json()["error"]["code"] == "invalid_max_per_customer"


def test_an_expired_hold_frees_the_limit_through_the_workers(config, client, services, make_product, spawn):
    config.TRUST_CUSTOMER_ID = True
    config.HOLD_TTL_SECONDS = 2
    make_product("LIM-3", on_hand=5, max_per_customer=1)
    spawn("workers.consumer", HOLD_TTL_SECONDS=2)
    spawn("workers.schedule", HOLD_TTL_SECONDS=2)
    first = Cart(client, "customer-9")
    first.add("LIM-3", 1)
    assert refusal(Cart(client, "customer-9").add("LIM-3", 1))["code"] == "customer_limit_exceeded"

    freed = wait_until(lambda: Cart(client, "customer-9").add("LIM-3", 1).status_code == 202, 15, every_s=0.3)
    assert freed, "the expired hold never freed the shopper's limit"


def test_an_unpaid_order_past_its_deadline_frees_the_limit_through_a_hand_off(
    trusted, client, services, limited, drain
):
    first = Cart(client, "customer-7")
    first.add(limited, 2)
    drain()
    checkout = first._send("POST", "/checkout")
    drain()
    assert first.outcome(checkout)["outcome"] == "order_created"
    assert refusal(Cart(client, "customer-7").add(limited, 1))["customer_has"] == 2
    with services.db.writing() as session, session.begin():
        session.execute(text("UPDATE orders SET pay_before = :t"), {"t": "2000-01-01"})

    assert sweep(services.db, services.lanes, services.config.CHECKOUT_LANES)["orders"] == 1
    drain()  # the order expires on its checkout line, then the hand-off is applied in the SKU's line

    assert Cart(client, "customer-7").add(limited, 2).status_code == 202


def test_a_cart_whose_own_hold_is_overdue_is_still_held_to_the_limit(
    trusted, client, services, limited, drain
):
    first, second = Cart(client, "customer-7"), Cart(client, "customer-7")
    first.add(limited, 1)
    second.add(limited, 1)
    drain()
    with services.db.writing() as session, session.begin():
        overdue = text("UPDATE holds SET expires_at = :t WHERE id = (SELECT MIN(id) FROM holds)")
        session.execute(overdue, {"t": "2000-01-01"})
    services.redis.delete(lane_key(sku_lane(limited), "shoppers"))  # only the database can tell

    more = first.add(limited, 2)  # its overdue unit goes back first: 1 (other cart) + 2 > 2
    drain()

    assert first.outcome(more)["outcome"] == "customer_limit_exceeded"
    assert_audit_clean(services)
