"""Every unsafe operator request from another site is refused, whatever the authentication.

Browsers cache HTTP Basic credentials after the 401 prompt and send them with any request to this
host, also one a hostile page makes; so the operator area refuses a state change whose ``Origin``,
``Referer`` or ``Sec-Fetch-Site`` says it comes from elsewhere, before looking at credentials.
The routes are enumerated from the app's URL map, so an operator route added later is covered.
"""

from __future__ import annotations

import re

import pytest

from config import TestConfig
from shop import create_app
from shop.domain.requests import sku_lane
from tests.helpers import OPERATOR_HEADERS
from tests.snapshots import state

SKU = "XS-1"
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
OPERATOR_BLUEPRINTS = {"admin", "stock_admin", "board", "rq_dashboard"}
# Values for the routes' path parameters; anything else gets a harmless word.
PATH_VALUES = {"sku": SKU, "action": "pause", "instance_number": "0", "queue_name": f"sku:{SKU}"}
FOREIGN = {
    "origin": {"Origin": "https://evil.example"},
    "null-origin": {"Origin": "null"},
    "sec-fetch-site": {"Sec-Fetch-Site": "cross-site"},
    "referer": {"Referer": "https://evil.example/page"},
}


def unsafe_operator_routes() -> list[tuple[str, str]]:
    """(method, path) of every state-changing route of the operator area, from the URL map."""
    app = create_app(TestConfig(DATABASE_URL="sqlite://", REDIS_URL="redis://127.0.0.1:1/0"))
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.rpartition(".")[0] not in OPERATOR_BLUEPRINTS:
            continue
        path = re.sub(r"<(?:[^<>:]+:)?([^<>]+)>", lambda m: PATH_VALUES.get(m[1], "x"), rule.rule)
        routes += [(method, path) for method in sorted(rule.methods & UNSAFE)]
    return routes


ROUTES = unsafe_operator_routes()


@pytest.mark.pure
def test_the_operator_area_has_unsafe_routes_to_protect():
    paths = {path for _method, path in ROUTES}
    assert {f"/admin/skus/{SKU}/pause", f"/admin/products/{SKU}", "/admin/audit"} <= paths
    assert {f"/admin/products/{SKU}/receipts", "/admin/orders/x/ship", "/admin/orders/x/cancel"} <= paths
    assert any(path.startswith("/rq/") for path in paths)


@pytest.mark.parametrize("foreign", FOREIGN.values(), ids=FOREIGN.keys())
@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_a_cross_site_operator_request_with_basic_auth_is_refused_and_changes_nothing(
    client, services, product, method, path, foreign
):
    before = state(services)

    response = client.open(
        path, method=method, headers={**OPERATOR_HEADERS, **foreign}, json={"on_hand": 0, "name": "Hijacked"}
    )

    assert response.status_code == 403, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert error["code"] == "cross_site"
    assert "another site" in error["message"]
    assert state(services) == before


def test_a_same_origin_pause_with_basic_auth_still_works(client, services, product):
    headers = {**OPERATOR_HEADERS, "Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"}

    response = client.post(f"/admin/skus/{SKU}/pause", headers=headers)

    assert response.status_code == 200
    assert services.lanes.is_paused(sku_lane(SKU))


def test_a_pause_from_a_script_without_browser_headers_still_works(client, services, product):
    response = client.post(f"/admin/skus/{SKU}/pause", headers=OPERATOR_HEADERS)

    assert response.status_code == 200
    assert services.lanes.is_paused(sku_lane(SKU))
