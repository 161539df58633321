"""What the tests share, defined once: waiting, reading the database, the API's answers, clients.

Fixtures live in ``tests/conftest.py``; these are the plain functions, classes and constants the
test files call, so that each test reads as the steps a shopper or an operator takes. Nothing here
starts a server or opens a connection by being imported: the tests that need no Redis and no
database (``pytest -m pure``) import it too.
"""

from __future__ import annotations

import base64
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from sqlalchemy import func, select, update

from config import BASE_DIR, TestConfig
from devtools.databases import own_postgres_database
from shop.domain.audit import AuditReport, audit
from shop.domain.carts import CartTokens
from shop.lanes.admission import request_hold
from shop.storage.models import AppliedRequest, Order, Product, utcnow
from tests.http_server import call

T = TypeVar("T")

GOOD_CARD = "4242424242424242"
PRICE = 100_000  # Rp, the price of the flash fixture's product

# --- waiting for real processes --------------------------------------------------------------------


def wait_until(predicate: Callable[[], T], timeout_s: float = 20.0, every_s: float = 0.05) -> T:
    """Poll ``predicate`` until it is truthy or ``timeout_s`` has passed; return its last value.

    Consumers, schedulers and servers in other processes take real time: a test asserts on the value
    (``assert wait_until(...)``) instead of sleeping for a guessed while.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every_s)
    return predicate()


def finished_job(host: str, job_id: str, headers: dict[str, str], timeout_s: float = 60.0) -> dict[str, Any]:
    """Poll ``GET /jobs/<id>`` over real HTTP until its request is applied; return the job's body."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status, _headers, body = call(host, "GET", f"/jobs/{job_id}", headers=headers)
        assert status == 200, body
        if body["status"] == "finished":
            return body
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never finished")


# --- the database, read as a test checks it --------------------------------------------------------


def product_row(services, sku: str) -> Product | None:
    with services.db.reading() as session:
        return session.get(Product, sku)


def order_row(services, order_id: str) -> Order:
    with services.db.reading() as session:
        order = session.get(Order, order_id)
        assert order is not None
        return order


def stock(services, sku: str) -> tuple[int, int, int]:
    """(on_hand, reserved, sales) of a product."""
    product = product_row(services, sku)
    assert product is not None
    return product.on_hand, product.reserved, product.sales


def count(services, model, *where) -> int:
    with services.db.reading() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def ledger(services, sku: str) -> list[AppliedRequest]:
    """The SKU's ledger entries in sequence order."""
    with services.db.reading() as session:
        return list(
            session.scalars(
                select(AppliedRequest).where(AppliedRequest.sku == sku).order_by(AppliedRequest.seq)
            )
        )


def audit_report(services) -> AuditReport:
    with services.db.writing() as session:
        return audit(session)


def assert_audit_clean(services) -> None:
    """The integrity audit finds nothing: no unit oversold or lost, the ledger replays to the stock."""
    report = audit_report(services)
    assert report.ok, report.violations


def expire_order_in_db(services, order_id: str) -> None:
    """Move the order's payment deadline into the past, as if the shopper had waited too long."""
    with services.db.writing() as session, session.begin():
        session.execute(
            update(Order).where(Order.id == order_id).values(pay_before=utcnow() - timedelta(seconds=5))
        )


def set_product(services, sku: str, **values: Any) -> None:
    """Change product columns the API cannot change directly (sales, created_at)."""
    with services.db.writing() as session, session.begin():
        session.execute(update(Product).where(Product.sku == sku).values(**values))


@contextmanager
def empty_database(name: str) -> Iterator[str]:
    """Yield the URL of a new, empty database of the suite's kind, removed afterwards.

    SQLite in a temporary folder, or, when DATABASE_URL names a PostgreSQL server, a database of
    the suite's own on it (never the one the URL names).
    """
    server_url = os.environ.get("DATABASE_URL", "")
    if server_url.startswith("postgresql"):
        with own_postgres_database(server_url, name) as url:
            yield url
        return
    with tempfile.TemporaryDirectory(prefix=f"{name}-") as folder:
        yield f"sqlite:///{Path(folder) / f'{name}.db'}"


# --- the lanes -------------------------------------------------------------------------------------


def cart(n: int) -> str:
    """The n-th cart id of a test that puts requests in line directly (``request_hold``)."""
    return f"cart{n:036d}"


def others_in_line(services, sku: str, count: int) -> None:
    """Put other shoppers' requests for ``sku`` in line ahead of ours."""
    tokens = CartTokens("someone-else")
    for _ in range(count):
        request_hold(services, tokens.issue()[1], sku, 1)


def worker_env(config: TestConfig, **extra: Any) -> dict[str, str]:
    """The environment of a worker process (consumer, scheduler, gunicorn) on the test's config."""
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


# --- the API's answers -----------------------------------------------------------------------------


def error_code(response) -> str:
    return response.get_json()["error"]["code"]


def assert_error(response, status: int, code: str | None = None) -> dict[str, Any]:
    """Assert the API's one error shape (and code, if given); return the error object."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    error = response.get_json()["error"]
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code, error
    return error


def available(client, sku: str) -> int:
    """What the catalog tells a shopper is left of a product."""
    return client.get(f"/catalogs/{sku}").get_json()["available"]


def listing(client, **params: Any) -> dict[str, Any]:
    response = client.get("/catalogs", query_string=params)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def skus(body: dict[str, Any]) -> list[str]:
    return [item["sku"] for item in body["items"]]


# --- operators -------------------------------------------------------------------------------------


def basic(user: str, password: str) -> dict[str, str]:
    """An HTTP Basic ``Authorization`` header."""
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


OPERATOR = ("operator", TestConfig.OPERATOR_PASSWORD)  # the test client's ``auth=``
OPERATOR_HEADERS = basic(*OPERATOR)


# --- shoppers --------------------------------------------------------------------------------------


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

    def pay(self, order_id: str, amount: int, card: str = GOOD_CARD, key: str = "pay-1"):
        headers = {**self.headers, "Idempotency-Key": key}
        body = {"order_id": order_id, "amount": amount, "card_number": card}
        return self.client.post("/payment", json=body, headers=headers)

    def result(self, response) -> dict[str, Any]:
        """Return the finished result of an accepted request's job."""
        job = self.job(response.get_json()["job_id"]).get_json()
        assert job["status"] == "finished", job
        return job["result"]


def hold(shopper: Shopper, drain, sku: str, qty: int) -> dict:
    """Put qty units of sku in the shopper's cart and apply the request."""
    accepted = shopper.add(sku, qty)
    assert accepted.status_code == 202, accepted.get_json()
    drain()
    result = shopper.result(accepted)
    assert result["outcome"] == "held", result
    return result


def checkout(shopper: Shopper, drain, key: str | None = None) -> dict:
    """Check the cart out and apply the request; return the job's result."""
    accepted = shopper.checkout(key)
    assert accepted.status_code == 202, accepted.get_json()
    drain()
    return shopper.result(accepted)


def ordered(shopper: Shopper, drain, sku: str = "FLASH-1", qty: int = 2) -> dict:
    """A shopper holds qty units and checks out: return the order_created result."""
    hold(shopper, drain, sku, qty)
    result = checkout(shopper, drain)
    assert result["outcome"] == "order_created", result
    return result


# --- the pages, as a browser without JavaScript uses them ------------------------------------------

HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


class Visitor:
    """A browser-like client: sends Accept: text/html, keeps cookies, posts forms with their CSRF token."""

    def __init__(self, client) -> None:
        self.client = client

    def get(self, path: str, **headers: str):
        return self.client.get(path, headers={**HTML, **headers})

    def page(self, path: str) -> str:
        response = self.get(path)
        assert response.status_code == 200, response.get_data(as_text=True)[:500]
        return response.get_data(as_text=True)

    def post(self, path: str, data: dict, from_page: str = "/"):
        """Submit a form as it appears on ``from_page`` (which supplies the CSRF token)."""
        token = CSRF_FIELD.search(self.page(from_page)).group(1)
        return self.client.post(path, data={"csrf_token": token, **data}, headers=HTML)

    def add(self, sku: str, qty: int = 1) -> str:
        """Press "Add to cart"; return the waiting page's path."""
        response = self.post(f"/p/{sku}", {"qty": str(qty)}, from_page=f"/p/{sku}")
        assert response.status_code == 303, response.get_data(as_text=True)[:500]
        return response.headers["Location"]

    @property
    def cart_token(self) -> str:
        return self.client.get_cookie("cart").value


def job_id_of(wait_path: str) -> str:
    return urlsplit(wait_path).path.rsplit("/", 1)[-1]


def text_of(html: str) -> str:
    """The page's visible words, with tags and repeated whitespace removed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
