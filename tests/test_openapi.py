"""The OpenAPI document describes exactly the JSON API, and the app answers as the document says.

The fuzzing test lets schemathesis call every operation in-process (WSGI) with valid and invalid
input, against a real Redis and database, with a few products, a cart and an unpaid order made
first and a real lane consumer applying the lines meanwhile. Every answer must be documented:
status code, content type, required headers and body schema, and no 5xx. Afterwards the lines are
drained and the audit must be clean.
"""

from __future__ import annotations

import base64
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from werkzeug.security import generate_password_hash

from config import TestConfig
from shop import create_app
from shop.domain.audit import audit
from shop.services import Services
from shop.web.openapi import ERROR_RESPONSES, document
from workers.consumer import Consumer

# The blueprints that answer JSON; pages, board, rq_dashboard and static are HTML or files.
JSON_BLUEPRINTS = {"api", "admin", "health", "openapi", "stock_admin"}
# Prometheus text exposition for scrapers: served by the admin blueprint, but not the JSON API.
NOT_JSON_ENDPOINTS = {"admin.metrics"}
HTTP_METHODS = {"get", "put", "post", "delete", "patch"}

# Examples per operation in the fuzzing phase; with the examples and coverage phases the whole
# fuzz stays well under a minute on two cores.
MAX_EXAMPLES = 20
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
# The SKUs the document uses as examples, so the examples phase meets real products.
EXAMPLE_SKUS = ("FLASH-PHONE-01", "MOUSE-WL-01")
APPROVED_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"


def _served_operations(app) -> set[tuple[str, str]]:
    served = set()
    for rule in app.url_map.iter_rules():
        blueprint = rule.endpoint.rpartition(".")[0]
        if blueprint not in JSON_BLUEPRINTS or rule.endpoint in NOT_JSON_ENDPOINTS:
            continue
        path = re.sub(r"<(?:[^<>:]+:)?([^<>]+)>", r"{\1}", rule.rule)
        served |= {(method, path) for method in rule.methods - {"HEAD", "OPTIONS"}}
    return served


def _described_operations(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in doc["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }


def test_every_json_route_is_described(app):
    undescribed = _served_operations(app) - _described_operations(document())
    assert not undescribed, f"routes missing from shop/web/openapi.py: {sorted(undescribed)}"


def test_nothing_described_is_missing_from_the_app(app):
    missing = _described_operations(document()) - _served_operations(app)
    assert not missing, f"described in shop/web/openapi.py but not served: {sorted(missing)}"


def test_the_document_is_served_as_valid_openapi_3_1(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    served = response.get_json()
    assert served == document()
    assert served["openapi"].startswith("3.1")
    schemathesis.openapi.from_dict(served).validate()  # against the OpenAPI 3.1 meta-schema


def test_every_refusal_is_documented_with_the_one_error_shape():
    # /readyz is the exception: its 503 names the dependency that does not answer.
    refusals = {
        (method, path, status): answer
        for path, item in document()["paths"].items()
        for method, operation in item.items()
        for status, answer in operation["responses"].items()
        if int(status) >= 400 and path != "/readyz"
    }
    assert refusals
    for (_method, _path, status), answer in refusals.items():
        assert answer == {"$ref": f"#/components/responses/{ERROR_RESPONSES[int(status)][0]}"}


def test_a_card_number_of_non_ascii_digits_is_refused_not_a_server_error(
    client, shopper, make_product, drain
):
    # "²".isdigit() is true but int("²") fails: the document allows only ASCII digits.
    make_product("CARD-1", on_hand=5)
    shopper.add("CARD-1")
    drain()
    checkout = shopper.checkout("card-1")
    drain()
    order = shopper.result(checkout)
    response = shopper.pay(order["order_id"], order["total"], card="²" * 16)
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "invalid_card"


def test_a_sku_with_a_trailing_newline_names_no_product(client):
    # Python's "$" also matches before a final newline; the document's pattern (ECMA-262) does not.
    response = client.put(
        "/admin/products/NL-1%0A",
        json={"name": "Newline", "category": "test", "price": 1},
        headers={"Authorization": _basic("operator", TestConfig.OPERATOR_PASSWORD)},
    )
    assert response.status_code == 422
    assert client.get("/catalogs?search=Newline").get_json()["total"] == 0


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@dataclass
class World:
    """What the fuzzer cannot guess: a real cart token and that cart's unpaid order."""

    token: str
    order_id: str
    total: int
    order_no: str

    def adopt(self, case: schemathesis.Case) -> None:
        """Point about two in three valid requests at the real cart and order, so they get past 404."""
        meta = case.meta
        if case.headers and "X-Cart-Token" in case.headers and not _negative(meta, ParameterLocation.HEADER):
            if _often(case.headers["X-Cart-Token"]):
                case.headers["X-Cart-Token"] = self.token
        if case.path_parameters and "order_id" in case.path_parameters:
            if not _negative(meta, ParameterLocation.PATH) and _often(case.path_parameters["order_id"]):
                case.path_parameters["order_id"] = self.order_id
        if case.path_parameters and "order_no" in case.path_parameters:
            if not _negative(meta, ParameterLocation.PATH) and _often(case.path_parameters["order_no"]):
                case.path_parameters["order_no"] = self.order_no
        body = case.body
        if isinstance(body, dict) and "card_number" in body and not _negative(meta, ParameterLocation.BODY):
            if _often(str(body.get("order_id"))):
                body["order_id"] = self.order_id
                body["amount"] = self.total
                body["card_number"] = APPROVED_CARD if _often(str(body["card_number"])) else DECLINED_CARD


def _negative(meta: Any, location: ParameterLocation) -> bool:
    return meta is None or meta.is_negative_at(location)


def _often(value: str) -> bool:
    return sum(map(ord, value)) % 3 != 0


class BackgroundConsumer:
    """A real lane consumer in a thread, so lines are applied while the fuzzer works."""

    def __init__(self, services: Services) -> None:
        self.consumer = Consumer(services)
        self.thread = threading.Thread(target=self.consumer.run, kwargs={"idle_timeout": 0.05}, daemon=True)

    def __enter__(self) -> BackgroundConsumer:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.consumer.stop()
        self.thread.join(timeout=10)


def _finished(client, response, token: str) -> dict[str, Any]:
    """Poll an accepted request's job until the consumer has applied it; return its result."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        job = client.get(response.headers["Location"], headers={"X-Cart-Token": token}).get_json()
        if job["status"] == "finished":
            return job["result"]
        time.sleep(0.01)
    raise AssertionError(f"job not applied: {job}")


def _make_world(client) -> World:
    added = client.post("/chart", json={"sku": EXAMPLE_SKUS[0], "qty": 2})
    assert added.status_code == 202, added.get_json()
    token = added.headers["X-Cart-Token"]
    assert _finished(client, added, token)["outcome"] == "held"
    checkout = client.post("/checkout", headers={"X-Cart-Token": token, "Idempotency-Key": "fuzz-world"})
    result = _finished(client, checkout, token)
    assert result["outcome"] == "order_created", result
    return World(token=token, order_id=result["order_id"], total=result["total"], order_no=result["order_no"])


@dataclass
class FuzzTarget:
    app: Any
    world: World


@pytest.fixture
def fuzz_target(config, services, make_product, drain) -> Iterator[FuzzTarget]:
    # A stock change waits for its turn; keep that short for SKUs the fuzzer has paused.
    fuzz_config = TestConfig(
        DATABASE_URL=config.DATABASE_URL, REDIS_URL=config.REDIS_URL, ADMIN_WAIT_SECONDS=1
    )
    app = create_app(fuzz_config, services=services)
    # The same password under a cheap hash: a hundred operator calls would spend 0.15 s each in scrypt.
    app.extensions["shop.operator_hash"] = generate_password_hash(
        fuzz_config.OPERATOR_PASSWORD, method="pbkdf2:sha256:1000"
    )
    for sku in EXAMPLE_SKUS:
        make_product(sku, on_hand=500, max_per_cart=5)
    with BackgroundConsumer(services):
        yield FuzzTarget(app, _make_world(app.test_client()))
    drain()
    with services.db.writing() as session:
        report = audit(session)
    assert report.ok, report.violations


schema = schemathesis.openapi.from_dict(
    document(),
    config=schemathesis.Config.from_dict(
        {
            "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
            "suppress-health-check": ["all"],
        }
    ),
)
schema.config.update(basic_auth=("operator", TestConfig.OPERATOR_PASSWORD))


@schema.parametrize()
def test_fuzzing_finds_no_server_error_and_no_undocumented_answer(case, fuzz_target):
    fuzz_target.world.adopt(case)
    response = case.call(app=fuzz_target.app)
    case.validate_response(response, checks=CHECKS, transport_kwargs={"app": fuzz_target.app})
