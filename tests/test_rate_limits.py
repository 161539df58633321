"""Per-client rate limits: a flood from one address is refused with 429, others carry on."""

from __future__ import annotations

import pytest

from config import TestConfig
from shop import create_app


@pytest.fixture
def limited_client(config, services):
    limited = TestConfig(
        DATABASE_URL=config.DATABASE_URL,
        REDIS_URL=config.REDIS_URL,
        RATE_LIMIT_ENABLED=True,
        RATE_LIMIT_CART="3/minute",
        RATE_LIMIT_READ="5/minute",
    )
    return create_app(limited, services=services).test_client()


def _add(client, address: str):
    return client.post("/chart", json={"sku": "RL-1", "qty": 1}, environ_base={"REMOTE_ADDR": address})


def test_a_client_over_its_cart_limit_gets_429_with_retry_after(limited_client, make_product):
    make_product("RL-1", on_hand=100)
    statuses = [_add(limited_client, "10.0.0.1").status_code for _ in range(4)]
    assert statuses == [202, 202, 202, 429]
    refused = _add(limited_client, "10.0.0.1")
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.get_json()["error"]["code"] == "rate_limited"


def test_other_clients_are_unaffected_by_one_clients_flood(limited_client, make_product):
    make_product("RL-1", on_hand=100)
    for _ in range(5):
        _add(limited_client, "10.0.0.1")
    assert _add(limited_client, "10.0.0.2").status_code == 202


def test_refused_requests_are_not_put_in_line(limited_client, make_product, services):
    make_product("RL-1", on_hand=100)
    for _ in range(6):
        _add(limited_client, "10.0.0.3")
    assert services.redis.llen("rq:queue:sku:RL-1") == 3


def test_reads_have_their_own_looser_limit(limited_client, make_product):
    make_product("RL-1", on_hand=100)
    for _ in range(3):
        _add(limited_client, "10.0.0.4")
    statuses = [
        limited_client.get("/catalogs", environ_base={"REMOTE_ADDR": "10.0.0.4"}).status_code
        for _ in range(6)
    ]
    assert statuses == [200] * 5 + [429]


def test_x_forwarded_for_is_ignored_without_trusted_proxies(limited_client, make_product):
    make_product("RL-1", on_hand=100)
    statuses = [
        limited_client.post(
            "/chart",
            json={"sku": "RL-1", "qty": 1},
            headers={"X-Forwarded-For": f"192.0.2.{i}"},
            environ_base={"REMOTE_ADDR": "10.0.0.5"},
        ).status_code
        for i in range(4)
    ]
    assert statuses[-1] == 429
