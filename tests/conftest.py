"""Fixtures: a real Redis on a free port, a migrated SQLite or PostgreSQL database, the app, real consumers.

Set DATABASE_URL to a PostgreSQL server (postgresql+psycopg://user@host/db) to run the suite there:
the suite creates its own database on that server and drops it afterwards; it never writes into the
database named in the URL.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from config import BASE_DIR, TestConfig
from devtools.databases import own_postgres_database
from devtools.redis_server import RedisServer
from shop import create_app
from shop.domain.products import create_or_update_product
from shop.lanes.admission import cache_product
from shop.services import Services, build_services
from shop.storage.migrate import upgrade
from shop.storage.models import Base
from shop.web.schemas.products import product_change
from workers.consumer import Consumer


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    server_url = os.environ.get("DATABASE_URL", "")
    if server_url.startswith("postgresql"):
        with own_postgres_database(server_url, "shop_test") as url:
            upgrade(url)
            yield url
        return
    with tempfile.TemporaryDirectory(prefix="shop-db-") as folder:
        url = f"sqlite:///{Path(folder) / 'shop.db'}"
        upgrade(url)
        yield url


@pytest.fixture
def config(database_url: str, redis_server: RedisServer) -> TestConfig:
    return TestConfig(DATABASE_URL=database_url, REDIS_URL=redis_server.url)


def _wipe(services: Services) -> None:
    """Empty every table and our own Redis (never anyone else's)."""
    with services.db.engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
    services.redis.flushdb()


@pytest.fixture
def services(config: TestConfig) -> Iterator[Services]:
    svc = build_services(config)
    _wipe(svc)
    yield svc
    _wipe(svc)
    svc.close()


@pytest.fixture
def make_services() -> Iterator[Callable[[TestConfig], Services]]:
    """Services on a configuration of the test's own, closed after the test even when it fails.

    An unclosed engine's connections are garbage-collected in some later test, whose run then fails
    on psycopg's ResourceWarning.
    """
    made: list[Services] = []

    def make(cfg: TestConfig) -> Services:
        made.append(build_services(cfg))
        return made[-1]

    yield make
    for svc in made:
        svc.close()


@pytest.fixture
def app(config: TestConfig, services: Services):
    return create_app(config, services=services)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def drain(services: Services):
    """Run a real lane consumer in burst mode until every lane is empty; return how many it applied."""

    def run(batch_size: int | None = None) -> int:
        return Consumer(services, batch_size=batch_size).run(burst=True)

    return run


def worker_env(config: TestConfig, **extra: Any) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        SHOP_ENV="test",
        DATABASE_URL=config.DATABASE_URL,
        REDIS_URL=config.REDIS_URL,
        HOLD_TTL_SECONDS=str(config.HOLD_TTL_SECONDS),
        PAYMENT_TTL_SECONDS=str(config.PAYMENT_TTL_SECONDS),
        SWEEP_INTERVAL_SECONDS=str(config.SWEEP_INTERVAL_SECONDS),
        PYTHONPATH=str(BASE_DIR),
    )
    env.update({k: str(v) for k, v in extra.items()})
    return env


@pytest.fixture
def spawn(config: TestConfig):
    """Start real worker processes (consumers, scheduler); they are stopped after the test."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(module: str, *args: str, **env: Any) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [sys.executable, "-m", module, *args], cwd=BASE_DIR, env=worker_env(config, **env)
        )
        processes.append(process)
        return process

    yield start
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def make_product(services: Services):
    """Create a product directly (as an operator would) and warm the admission cache."""

    def make(sku: str = "FLASH-1", on_hand: int = 10, **fields: Any) -> str:
        body = {"name": f"Product {sku}", "category": "electronic", "price": 100_000, **fields}
        body["on_hand"] = on_hand
        change = product_change(body)
        with services.db.writing() as session:
            product, _created = create_or_update_product(session, sku, change)
        cache_product(services, product)
        return sku

    return make


class Shopper:
    """A JSON API client with its own cart, for tests that read like a shopper's actions."""

    def __init__(self, client) -> None:
        self.client = client
        self.token: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Cart-Token": self.token} if self.token else {}

    def _remember(self, response):
        token = response.headers.get("X-Cart-Token")
        if token:
            self.token = token
        return response

    def add(self, sku: str, qty: int = 1, **extra: Any):
        return self._remember(
            self.client.post("/chart", json={"sku": sku, "qty": qty, **extra}, headers=self.headers)
        )

    def set_qty(self, sku: str, qty: int):
        return self._remember(self.client.put(f"/chart/{sku}/{qty}", headers=self.headers))

    def cart(self):
        return self._remember(self.client.get("/chart", headers=self.headers))

    def job(self, job_id: str):
        return self.client.get(f"/jobs/{job_id}", headers=self.headers)

    def checkout(self, key: str | None = None):
        headers = dict(self.headers)
        if key:
            headers["Idempotency-Key"] = key
        return self.client.post("/checkout", headers=headers)

    def pay(self, order_id: str, amount: int, card: str = "4242424242424242", key: str = "pay-1"):
        headers = {**self.headers, "Idempotency-Key": key}
        body = {"order_id": order_id, "amount": amount, "card_number": card}
        return self.client.post("/payment", json=body, headers=headers)

    def result(self, response) -> dict[str, Any]:
        """Return the finished result of an accepted request's job."""
        job = self.job(response.get_json()["job_id"]).get_json()
        assert job["status"] == "finished", job
        return job["result"]


@pytest.fixture
def shopper(client):
    return Shopper(client)


@pytest.fixture
def new_shopper(client):
    return lambda: Shopper(client)
