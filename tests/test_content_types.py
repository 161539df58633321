"""JSON endpoints take only JSON bodies: anything else is 415 and changes nothing.

A cross-site form can send ``text/plain``, ``application/x-www-form-urlencoded`` or
``multipart/form-data`` without a CORS preflight, so a JSON endpoint that parsed such a body would
let a hostile page place holds (or pay) from a visitor's browser. The endpoints are enumerated from
the OpenAPI document's operations with a request body (``tests/test_openapi.py`` keeps the
document and the app's routes equal), so a new one is covered.
"""

from __future__ import annotations

import json

import pytest

from shop.web.openapi import document
from tests.helpers import OPERATOR_HEADERS
from tests.snapshots import state

SKU = "CT-1"
BODY = json.dumps({"sku": SKU, "qty": 1, "name": "Renamed", "on_hand": 3})
NOT_JSON = {
    "text-plain": ("text/plain", BODY),
    "text-plain-utf8": ("text/plain; charset=utf-8", BODY),
    "form": ("application/x-www-form-urlencoded", "sku=CT-1&qty=1"),
    "multipart": (
        "multipart/form-data; boundary=b",
        '--b\r\nContent-Disposition: form-data; name="sku"\r\n\r\nCT-1\r\n--b--\r\n',
    ),
    "missing": (None, BODY),
    "xml": ("application/xml", "<sku>CT-1</sku>"),
}


def operations_with_a_body() -> list[tuple[str, str]]:
    """(method, path template) of every documented operation that takes a request body."""
    return sorted(
        (method.upper(), path)
        for path, item in document()["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict) and "requestBody" in operation
    )


OPERATIONS = operations_with_a_body()


@pytest.fixture
def world(make_product, shopper, drain):
    """A product and a cart with a hold, so every endpoint gets as far as reading its body."""
    make_product(SKU, on_hand=10, max_per_cart=5)
    shopper.add(SKU)
    drain()
    return shopper


def _headers(world, path: str) -> dict[str, str]:
    if path.startswith("/admin/"):
        return OPERATOR_HEADERS
    return {**world.headers, "Idempotency-Key": "ct-key-1"}


def test_the_json_endpoints_with_a_body_are_found():
    assert {
        ("POST", "/chart"),
        ("POST", "/cart"),
        ("POST", "/payment"),
        ("PUT", "/admin/products/{sku}"),
    } <= set(OPERATIONS)


@pytest.mark.parametrize("content_type, data", NOT_JSON.values(), ids=NOT_JSON.keys())
@pytest.mark.parametrize(("method", "template"), OPERATIONS)
def test_a_body_that_is_not_json_is_refused_with_415_and_changes_nothing(
    client, services, world, method, template, content_type, data
):
    path = template.replace("{sku}", SKU)
    before = state(services)

    kwargs = {"content_type": content_type} if content_type else {}
    response = client.open(path, method=method, data=data, headers=_headers(world, path), **kwargs)

    assert response.status_code == 415, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert error["code"] == "unsupported_media_type"
    assert "application/json" in error["message"]
    assert state(services) == before


def test_a_json_body_with_a_charset_is_accepted(client, world, services):
    response = client.post(
        "/chart",
        data=json.dumps({"sku": SKU, "qty": 1}),
        content_type="application/json; charset=utf-8",
        headers=world.headers,
    )

    assert response.status_code == 202


def test_the_document_names_415_for_every_operation_with_a_body():
    for method, template in OPERATIONS:
        responses = document()["paths"][template][method.lower()]["responses"]
        assert responses.get("415") == {"$ref": "#/components/responses/UnsupportedMediaType"}, (
            method,
            template,
        )
