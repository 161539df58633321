"""Every error is JSON with a stable code and the right status; none of them changes data."""

from __future__ import annotations

from shop.storage.models import Hold
from tests.helpers import OPERATOR_HEADERS


def test_an_unknown_route_is_a_json_404(client):
    response = client.get("/no-such-thing")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_a_wrong_method_is_a_json_405_naming_the_allowed_ones(client):
    response = client.delete("/catalogs")
    assert response.status_code == 405
    assert response.get_json()["error"]["code"] == "method_not_allowed"
    assert "GET" in response.headers["Allow"]


def test_a_body_over_64_kib_is_refused_with_413_and_changes_nothing(client, make_product, services):
    make_product("BIG-1", on_hand=5)
    body = '{"sku": "BIG-1", "qty": 1, "pad": "' + "x" * (65 * 1024) + '"}'
    response = client.post("/chart", data=body, content_type="application/json")
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "request_entity_too_large"
    assert services.redis.llen("rq:queue:sku:BIG-1") == 0
    with services.db.reading() as session:
        assert session.query(Hold).count() == 0


def test_errors_never_leak_a_stack_trace(client):
    response = client.post("/chart", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert "Traceback" not in response.get_data(as_text=True)


def test_nul_characters_are_refused_not_crashed_on(client, make_product):
    make_product("NUL-1", on_hand=1)
    assert client.get("/catalogs?search=a%00b").status_code == 400
    assert client.get("/catalogs?category=a%00b").status_code == 400
    assert client.get("/catalogs/a%00b").status_code == 404
    auth = OPERATOR_HEADERS
    assert client.put("/admin/products/NUL-1", json={"name": "a\u0000b"}, headers=auth).status_code == 422
