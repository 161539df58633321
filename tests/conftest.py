"""Fixtures: a real Redis on a free port, a migrated SQLite or PostgreSQL database, the app, real consumers.

Every server and database is a fixture that starts when a test first asks for it, so a test of plain
logic starts none: mark it ``pure`` (``pytestmark = pytest.mark.pure`` for a whole file) and the
collection refuses it if it asks, even through another fixture, for Redis or the database.
``pytest -m pure`` runs those tests alone. The helpers the tests call live in ``tests/helpers.py``.

Set DATABASE_URL to a PostgreSQL server (postgresql+psycopg://user@host/db) to run the suite there:
the suite creates its own database on that server and drops it afterwards; it never writes into the
database named in the URL.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from config import BASE_DIR, TestConfig
from devtools.redis_server import RedisServer
from shop import create_app
from shop.domain.products import create_or_update_product
from shop.domain.requests import sku_lane
from shop.lanes.admission import cache_product
from shop.services import Services, build_services
from shop.storage.migrate import upgrade
from shop.storage.models import Base
from shop.web.schemas.products import product_change
from tests.helpers import PRICE, Shopper, empty_database, ordered, worker_env
from workers import consumer as consumer_module
from workers.consumer import Consumer

PURE = "pure: needs neither Redis nor a database (checked at collection); `pytest -m pure` runs these alone"
# The fixtures that start a server or create a database; a pure test may not need any of them.
SERVERS = frozenset({"redis_server", "database_url", "own_redis"})


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", PURE)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Refuse a test marked pure that needs Redis or a database, directly or through its fixtures."""
    for item in items:
        needs = SERVERS.intersection(getattr(item, "fixturenames", ()))
        if needs and item.get_closest_marker("pure") is not None:
            raise pytest.UsageError(f"{item.nodeid} is marked pure but needs {', '.join(sorted(needs))}")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    with empty_database("shop_test") as url:
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


@pytest.fixture
def spawn(config: TestConfig):
    """Start real worker processes (consumers, scheduler); they are stopped after the test.

    ``log``: a file that gets the process's output, for a test that reads what it warned about.
    """
    processes: list[subprocess.Popen[bytes]] = []
    logs = ExitStack()  # each log is closed once its process has stopped

    def start(module: str, *args: str, log: Path | None = None, **env: Any) -> subprocess.Popen[bytes]:
        out = logs.enter_context(log.open("wb")) if log is not None else None
        process = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            cwd=BASE_DIR,
            env=worker_env(config, **env),
            stdout=out,
            stderr=subprocess.STDOUT if out is not None else None,
        )
        processes.append(process)
        return process

    with logs:
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


@pytest.fixture
def product(request: pytest.FixtureRequest, make_product) -> str:
    """The test module's product (its ``SKU``): 10 units, at most 5 per cart."""
    return make_product(request.module.SKU, on_hand=10, max_per_cart=5)


@pytest.fixture
def flash(make_product) -> str:
    """One product on sale: 10 units at Rp 100.000."""
    return make_product("FLASH-1", on_hand=10, price=PRICE)


@pytest.fixture
def order(shopper, drain, flash) -> dict[str, Any]:
    """An order for 2 units awaiting payment, made through the lanes."""
    return ordered(shopper, drain, flash, 2)


@pytest.fixture
def consumer(spawn):
    """A real lane consumer in its own process, applying requests as they arrive."""
    return spawn("workers.consumer")


@pytest.fixture
def serve_one(services: Services, monkeypatch):
    """Apply exactly one request of a SKU's line, as its consumer would, then stop."""
    monkeypatch.setattr(consumer_module, "DRAIN_SLICE_S", 0.0)  # hand the lane back after one batch

    def run(sku: str) -> int:
        return Consumer(services, batch_size=1).serve(sku_lane(sku))

    return run


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A Redis of the test's own, which the test may stop and start again (losing every key)."""
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture
def shopper(client):
    return Shopper(client)


@pytest.fixture
def new_shopper(client):
    return lambda: Shopper(client)
