"""When Redis is down the web tier says so (503, Retry-After) instead of failing with a 500."""

from __future__ import annotations

import pytest

from config import TestConfig
from devtools.redis_server import free_port
from shop import create_app
from shop.services import build_services


@pytest.fixture
def client_without_redis(config):
    dead = TestConfig(DATABASE_URL=config.DATABASE_URL, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    services = build_services(dead)
    yield create_app(dead, services=services).test_client()
    services.close()


def test_cart_requests_get_503_with_retry_after_while_redis_is_down(client_without_redis):
    response = client_without_redis.post("/chart", json={"sku": "ANY-1", "qty": 1})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    assert response.get_json()["error"]["code"] == "redis_unavailable"


def test_readiness_names_redis_when_it_is_down(client_without_redis):
    response = client_without_redis.get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("error")


def test_the_catalog_still_answers_while_redis_is_down(client_without_redis):
    assert client_without_redis.get("/catalogs").status_code == 200
