"""Rate limits under real gunicorn: one client's limit holds across workers, and a Redis outage
falls back to per-process limits while reads keep being served.

The app runs as in production (``SHOP_ENV=production``, so with its secrets) behind one trusted
proxy: each test client names itself with ``X-Forwarded-For``, so every attempt can start from a
fresh client address.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from devtools.redis_server import free_port
from tests.gunicorn_server import gunicorn
from tests.helpers import worker_env
from tests.http_server import call

CART_LIMIT = 5
REQUESTS = 12
SECRETS = {"SECRET_KEY": "gunicorn-test-secret-key-0123456789", "OPERATOR_PASSWORD": "gunicorn-test-operator"}


def _env(config, **extra: Any) -> dict[str, str]:
    return worker_env(
        config,
        SHOP_ENV="production",
        RATE_LIMIT_ENABLED=1,
        RATE_LIMIT_CART=f"{CART_LIMIT}/minute",
        TRUSTED_PROXY_COUNT=1,
        **SECRETS,
        **extra,
    )


def _call(
    host: str, method: str, path: str, client: str, body: Any = None
) -> tuple[int, dict[str, str], Any]:
    """One request on its own connection, as the client at address ``client``."""
    return call(host, method, path, body, {"X-Forwarded-For": client})


def _add(host: str, client: str, wave: str) -> tuple[int, dict[str, str], Any]:
    return _call(host, "POST", f"/chart?wave={wave}", client, {"sku": "GUNI-1", "qty": 1})


@contextmanager
def frozen(pid: int) -> Iterator[None]:
    """Stop one gunicorn worker (SIGSTOP) so that the other worker must accept the next connections."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def test_one_clients_cart_limit_holds_across_gunicorn_workers(config, services, make_product):
    make_product("GUNI-1", on_hand=1000, max_per_cart=1000)
    client = "198.51.100.1"
    with gunicorn(_env(config), workers=2, threads=4) as server:
        first = [_add(server.host, client, "first") for _ in range(3)]
        worker_a = server.wait_for_access("wave=first", count=3)[0]
        # The kernel picks which worker accepts a connection; freeze the one that served the first
        # request, so the rest of this client's requests must be served by the other worker.
        with frozen(worker_a):
            rest = [_add(server.host, client, "rest") for _ in range(REQUESTS - 3)]
        assert set(server.wait_for_access("wave=rest", count=REQUESTS - 3)) == {server.other_worker(worker_a)}

        results = first + rest
        statuses = [status for status, _headers, _body in results]
        assert statuses == [202] * CART_LIMIT + [429] * (REQUESTS - CART_LIMIT)
        for _status, headers, body in results[CART_LIMIT:]:
            assert int(headers["Retry-After"]) >= 1
            assert body["error"]["code"] == "rate_limited"
        status, _headers, _body = _call(
            server.host, "POST", "/chart", "203.0.113.9", {"sku": "GUNI-1", "qty": 1}
        )
        assert status == 202, "another client is not limited by the first one's flood"


def test_with_redis_down_reads_are_served_and_cart_routes_answer_503(config, services, make_product):
    make_product("GUNI-1", on_hand=10)
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    env = _env(config, REDIS_URL=dead_redis, RATE_LIMIT_READ="3/minute")
    with gunicorn(env, workers=2, threads=4) as server:
        reads = [_call(server.host, "GET", "/catalogs", "198.51.100.50") for _ in range(10)]
        served = [body for status, _headers, body in reads if status == 200]
        assert served[0]["items"][0]["sku"] == "GUNI-1"
        # The limiter fell back to per-process memory: still a limit, but one per worker.
        assert 3 <= len(served) <= 2 * 3
        assert {status for status, _headers, _body in reads} == {200, 429}

        status, headers, body = _call(
            server.host, "POST", "/chart", "198.51.100.51", {"sku": "GUNI-1", "qty": 1}
        )
        assert status == 503
        assert body["error"]["code"] == "redis_unavailable"
        assert int(headers["Retry-After"]) >= 1

        status, _headers, body = _call(server.host, "GET", "/readyz", "198.51.100.52")
        assert status == 503
        assert body["checks"]["redis"].startswith("error") and body["checks"]["database"] == "ok"
