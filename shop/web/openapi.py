"""The OpenAPI 3.1 document of the JSON API, served at ``GET /openapi.json``, generated.

Paths and methods come from the blueprints' own routes; each route's request and answer shapes are
the pydantic models its view validates and serialises with (``shop.web.schemas``), and the words
around them come from ``shop.web.schemas.operations``. ``tests/test_openapi.py`` checks that the
document describes exactly the app's JSON routes and fuzzes every operation against it.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from flask import Blueprint, Flask, Response, jsonify
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from shop.web.schemas import responses
from shop.web.schemas.base import DocumentSchema
from shop.web.schemas.operations import Answer, Operation, error_responses, operations
from shop.web.schemas.parameters import HEADERS, error_headers, expanded, parameters

__all__ = ["ERROR_RESPONSES", "bp", "document"]

bp = Blueprint("openapi", __name__)
ERROR_RESPONSES = error_responses()

JSON = "application/json"
Schema = dict[str, Any]
# Prometheus text exposition for scrapers: served by the admin blueprint, but not the JSON API.
NOT_JSON_ENDPOINTS = frozenset({"admin.metrics"})


@bp.get("/openapi.json")
def openapi_json() -> Response:
    return jsonify(document())


def json_routes() -> list[tuple[str, str, str]]:
    """(path template, method, endpoint) of each JSON route, as the blueprints register them."""
    from shop.web import admin, api, health, stock_admin

    app = Flask(__name__)
    for blueprint in (health.bp, api.bp, admin.bp, stock_admin.bp, bp):
        app.register_blueprint(blueprint)
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint in NOT_JSON_ENDPOINTS:
            continue
        path = re.sub(r"<(?:[^<>:]+:)?([^<>]+)>", r"{\1}", rule.rule)
        routes += [
            (path, method.lower(), rule.endpoint) for method in sorted(rule.methods - {"HEAD", "OPTIONS"})
        ]
    return routes


class _Components:
    """The models' JSON schemas, as ``#/components/schemas`` entries and references to them."""

    def __init__(self, operations: dict[str, Operation]) -> None:
        wanted: dict[tuple[type[BaseModel], str], None] = {(responses.Error, "serialization"): None}
        for operation in operations.values():
            if operation.body is not None:
                wanted[(operation.body, "validation")] = None
            for answer in operation.answers.values():
                if isinstance(answer.model, type):
                    wanted[(answer.model, "serialization")] = None
        refs, definitions = models_json_schema(
            list(wanted), ref_template="#/components/schemas/{model}", schema_generator=DocumentSchema
        )
        self.refs = refs
        self.schemas: Schema = definitions.get("$defs", {})

    def ref(self, model: type[BaseModel] | Schema, mode: str = "serialization") -> Schema:
        return self.refs[(model, mode)] if isinstance(model, type) else model  # type: ignore[index]


def _answer(components: _Components, answer: Answer) -> Schema:
    schema: Schema = {
        "description": answer.description,
        "content": {JSON: {"schema": components.ref(answer.model)}},
    }
    if answer.headers:
        schema["headers"] = {
            name: {"$ref": f"#/components/headers/{ref}"} for name, ref in answer.headers.items()
        }
    return schema


def _operation(components: _Components, operation: Operation, path: str) -> Schema:
    """One operation object: its id, words, parameters, body, answers and refusals."""
    described: Schema = {
        "operationId": operation.id.format(spelling=path.split("/")[1]),
        "tags": [operation.tag],
        "summary": operation.summary,
    }
    description = operation.path_descriptions.get(path, operation.description)
    if description:
        described["description"] = description
    if operation.operator:
        described["security"] = [{"operatorBasic": []}]
    if operation.parameters:
        described["parameters"] = [p for name in operation.parameters for p in expanded(name)]
    if operation.body is not None:
        content: Schema = {"schema": components.ref(operation.body, "validation")}
        if operation.body_example:
            content["example"] = operation.body_example
        described["requestBody"] = {"required": operation.body_required, "content": {JSON: content}}
    described["responses"] = {
        **{str(status): _answer(components, answer) for status, answer in operation.answers.items()},
        **{
            str(status): {"$ref": f"#/components/responses/{ERROR_RESPONSES[status][0]}"}
            for status in operation.refusals
        },
    }
    return described


def _paths(components: _Components, documented: dict[str, Operation]) -> Schema:
    paths: Schema = {}
    for path, method, endpoint in json_routes():
        operation = documented.get(endpoint)
        if operation is None:
            raise LookupError(
                f"{endpoint} ({method.upper()} {path}) has no entry in shop.web.schemas.operations"
            )
        paths.setdefault(path, {})[method] = _operation(components, operation, path)
    return paths


@cache
def document() -> Schema:
    """Build the document once per process; it depends only on code, never on configuration."""
    documented = operations()
    components = _Components(documented)
    paths = _paths(components, documented)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Flash-sale checkout",
            "version": "1.0.0",
            "description": "Cart requests are put in line per SKU and answered at once with a job to poll. "
            'Every error is `{"error": {"code", "message", "details"?}}`. Prices are whole Rupiah.',
        },
        "tags": [
            {"name": "catalog"},
            {"name": "cart", "description": "Every cart route is served as /chart and as /cart."},
            {"name": "checkout"},
            {"name": "health"},
            {"name": "operators", "description": "HTTP Basic; 404 when no operator password is set."},
            {"name": "meta"},
        ],
        "paths": paths,
        "components": {
            "schemas": components.schemas,
            "responses": {
                name: _answer(components, Answer(description, responses.Error, error_headers(status)))
                for status, (name, description) in ERROR_RESPONSES.items()
            },
            "parameters": parameters(),
            "headers": HEADERS,
            "securitySchemes": {
                "operatorBasic": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "OPERATOR_USER / OPERATOR_PASSWORD. Without OPERATOR_PASSWORD the "
                    "operator routes answer 404.",
                }
            },
        },
    }
