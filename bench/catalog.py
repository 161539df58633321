"""catalog_100k: the catalog and operator reads at a real shop's size, next to the demo catalog, over HTTP.

For one database kind (SQLite file or PostgreSQL) two shops run side by side, each gunicorn with the
Procfile's settings and the spike's generous rate limits (web tier only: catalog reads need no
consumer): one with the 36-product demo catalog (``shop seed``), one with the demo catalog plus N
generated products (``shop seed --products N``: the same functions the command calls, timed). Every
figure is taken from both shops interleaved, request by request or round by round, so the
machine's noise hits both alike:

* one client, sequential, keep-alive: ``GET /catalogs`` for every sortBy x category x search x page
  (the first page, ``page=50&limit=20``, and the cursor chain followed to page 50 when the first
  answer has ``next_cursor``), p50/p99 per combination;
* 8 keep-alive clients (``bench.load``) on ``GET /catalogs?page=1&limit=10&sortBy=sales&sortDir=desc``
  for a few seconds, in rounds: requests/s;
* the storefront ``GET /?search=mouse``;
* the operator board's data ``GET /admin/skus`` (HTTP Basic), last and with a timeout, because at
  this size it can outlast the bench.

The API's newer parts are used when the answers show them and reported as answered when they are
not: ``sortBy=relevance`` is asked for with every search (a 400 until search ranks), a cursor page
is measured only where the first page gave ``next_cursor``, ``total_is_lower_bound`` is recorded.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import DBAPIError

from bench.common import make_services, median, ratio, say, scratch_database
from bench.figures import percentile
from bench.spike import run_load, shop_env
from bench.stack import Stack
from shop.domain.big_catalog import seed_big_catalog, settle_after_bulk_load
from shop.domain.demo import seed_demo_catalog
from shop.lanes.admission import cache_product
from shop.storage.models import Product

DEMO, LARGE = "demo", "large"
SORTS = ("sales", "price", "discount", "name", "available", "newest")
SEARCH_SORT = "relevance"  # only offered with a search
CATEGORIES: tuple[str | None, ...] = (None, "electronic")
# No search, a common English word, an Indonesian one, and a word nothing contains.
SEARCHES: tuple[str | None, ...] = (None, "mouse", "kaos", "zxqvbnoword")
PAGE_LIMIT = 20
DEEP_PAGE = 50
THROUGHPUT_PATH = "/catalogs?page=1&limit=10&sortBy=sales&sortDir=desc"
THROUGHPUT_CLIENTS = 8
STOREFRONT_PATH = "/?search=mouse"
ADMIN_PATH = "/admin/skus"
OPERATOR_USER = "operator"
REQUEST_TIMEOUT_S = 30.0
# /admin/skus read every SKU at 100,000 products in ~30 s before it was paged: wait twice that.
ADMIN_TIMEOUT_S = 60.0
# The longest one cursor chain is followed (it stops earlier at DEEP_PAGE or at the last page).
CURSOR_WALK_S = 10.0
WARM_UP_REQUESTS = 20
IDLE_REOPEN_S = 1.0


@dataclass(frozen=True)
class Plan:
    """How many samples one measurement takes per shop: ``reps``, or fewer once ``min_reps`` have
    taken ``budget_s`` (a request that is slow fails its target on a few samples already)."""

    reps: int
    min_reps: int
    budget_s: float


@dataclass
class Answer:
    status: int | None  # None: no answer (timeout or connection error, in ``error``)
    ms: float
    body: bytes = b""
    error: str | None = None


@dataclass
class Client:
    """One keep-alive HTTP/1.1 connection to a shop on loopback, reopened after a failure or a pause."""

    port: int
    timeout_s: float = REQUEST_TIMEOUT_S
    headers: dict[str, str] = field(default_factory=dict)
    conn: http.client.HTTPConnection | None = None
    used_at: float = 0.0

    def get(self, path: str) -> Answer:
        # gunicorn closes a connection idle for its keep-alive time (2 s); reopen before that.
        if self.conn is not None and time.monotonic() - self.used_at > IDLE_REOPEN_S:
            self.close()
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout_s)
        started = time.perf_counter()
        try:
            self.conn.request("GET", path, headers=self.headers)
            response = self.conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as error:
            self.close()
            kind = "timeout" if isinstance(error, TimeoutError) else type(error).__name__
            return Answer(None, (time.perf_counter() - started) * 1000, error=kind)
        ms = (time.perf_counter() - started) * 1000
        self.used_at = time.monotonic()
        if response.will_close:
            self.close()
        return Answer(response.status, ms, body)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.conn = None


def catalog_path(params: Mapping[str, Any]) -> str:
    return "/catalogs?" + urlencode({k: v for k, v in params.items() if v is not None})


def _json(body: bytes) -> dict[str, Any]:
    try:
        found = json.loads(body)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _error_code(answer: Answer) -> str | None:
    """The API's error code of a refused request (``invalid_sort``), or the client's error."""
    if answer.error:
        return answer.error
    if answer.status == 200:
        return None
    found = _json(answer.body)
    error = found.get("error")
    if isinstance(error, dict):
        return error.get("code")
    return found.get("code") or (error if isinstance(error, str) else None)


def sample(clients: Mapping[str, Client], paths: Mapping[str, str], plan: Plan) -> dict[str, dict[str, Any]]:
    """Time GET path on each shop, alternating shop by shop, until the plan is met for each.

    A shop stops at its first answer that is not a 200 (a refused combination is reported, not
    timed) and at its first timeout.
    """
    times: dict[str, list[float]] = {name: [] for name in paths}
    spent = dict.fromkeys(paths, 0.0)
    last: dict[str, Answer] = {}
    first_ok: dict[str, bytes] = {}
    active = list(paths)
    while active:
        for name in list(active):
            answer = clients[name].get(paths[name])
            last[name] = answer
            spent[name] += answer.ms / 1000
            if answer.status == 200:
                times[name].append(answer.ms)
                first_ok.setdefault(name, answer.body)
            taken = len(times[name])
            if (
                answer.status != 200
                or taken >= plan.reps
                or (taken >= plan.min_reps and spent[name] >= plan.budget_s)
            ):
                active.remove(name)
    figures = {}
    for name, path in paths.items():
        ms, answer = times[name], last[name]
        body = first_ok.get(name, answer.body)
        figures[name] = {
            "path": path,
            "status": answer.status,
            "error": _error_code(answer),
            "n": len(ms),
            "p50": median(ms),
            "p99": percentile(ms, 99),
            "max": max(ms, default=None),
            "timeout_ms": answer.ms if answer.error == "timeout" else None,
            "kb": round(len(body) / 1024, 1) if body else None,
            "body": body,
        }
    return figures


def _listing(figure: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """Keep what a catalog answer says about its size and paging, drop the body; and its next_cursor."""
    found = _json(figure.pop("body")) if figure["status"] == 200 else {}
    cursor = found.get("next_cursor") or None
    figure.update(
        items=len(found.get("items") or []),
        total=found.get("total"),
        total_is_lower_bound=found.get("total_is_lower_bound"),
        has_next_cursor=cursor is not None,
    )
    return figure, cursor


def _walk_cursor(client: Client, params: dict[str, Any], cursor: str) -> tuple[str, int, str | None]:
    """Follow next_cursor from page 1 towards DEEP_PAGE (within CURSOR_WALK_S): the deepest page's
    path, its page number, and why the walk stopped short if it did."""
    page, path, stopped = 1, "", None
    started = time.monotonic()
    while page < DEEP_PAGE:
        if time.monotonic() - started > CURSOR_WALK_S:
            stopped = f"walk took over {CURSOR_WALK_S:.0f} s"
            break
        path = catalog_path({**params, "cursor": cursor})
        answer = client.get(path)
        page += 1
        if answer.status != 200:
            stopped = f"page {page}: {answer.status or answer.error}"
            break
        cursor = _json(answer.body).get("next_cursor")
        if not cursor:
            stopped = "last page"
            break
    return path, page, stopped


def sweep(clients: Mapping[str, Client], plan: Plan) -> list[dict[str, Any]]:
    """Every sortBy x category x search x page of GET /catalogs, one client, both shops interleaved."""
    rows = []
    for search in SEARCHES:
        for category in CATEGORIES:
            for sort in SORTS + ((SEARCH_SORT,) if search else ()):
                combo = {"sortBy": sort, "category": category, "search": search}
                first_path = catalog_path({**combo, "page": 1, "limit": PAGE_LIMIT})
                deep_path = catalog_path({**combo, "page": DEEP_PAGE, "limit": PAGE_LIMIT})
                first, cursors = {}, {}
                for name, figure in sample(clients, dict.fromkeys(clients, first_path), plan).items():
                    first[name], cursors[name] = _listing(figure)
                rows.append({**combo, "page": "first", "shops": first})
                deep = sample(clients, dict.fromkeys(clients, deep_path), plan)
                rows.append({**combo, "page": "deep", "shops": {n: _listing(f)[0] for n, f in deep.items()}})
                walks = {
                    name: _walk_cursor(clients[name], {**combo, "limit": PAGE_LIMIT}, cursor)
                    for name, cursor in cursors.items()
                    if cursor
                }
                if walks:
                    shops = {}
                    for name, figure in sample(clients, {n: w[0] for n, w in walks.items()}, plan).items():
                        shops[name] = _listing(figure)[0]
                        shops[name].update(cursor_page=walks[name][1], cursor_stopped=walks[name][2])
                    rows.append({**combo, "page": "cursor", "shops": shops})
    return rows


def worst(rows: list[dict[str, Any]], shop: str) -> dict[str, Any]:
    """The slowest p99 among the combinations this shop answered, and those it did not answer."""
    answered = [(r, r["shops"][shop]) for r in rows if shop in r["shops"]]
    ok = [(r, f) for r, f in answered if f["status"] == 200 and f["p99"] is not None]
    refused = [
        {"combination": label(r), "status": f["status"], "error": f["error"]}
        for r, f in answered
        if f["status"] != 200
    ]
    slowest = max(ok, key=lambda pair: pair[1]["p99"], default=None)
    return {
        "combinations": len(answered),
        "answered": len(ok),
        "over_50ms": sum(1 for _r, f in ok if f["p99"] > 50),
        # Systematically slow, not one unlucky sample (with n < 100 the p99 is the slowest sample).
        "p50_over_50ms": sum(1 for _r, f in ok if f["p50"] > 50),
        "worst_p99": slowest[1]["p99"] if slowest else None,
        "worst_combination": label(slowest[0]) if slowest else None,
        "not_answered": refused,
    }


def label(row: dict[str, Any]) -> str:
    parts = [f"sortBy={row['sortBy']}"]
    if row["category"]:
        parts.append(f"category={row['category']}")
    if row["search"]:
        parts.append(f"search={row['search']}")
    parts.append({"first": "page 1", "deep": f"page {DEEP_PAGE}", "cursor": "cursor"}[row["page"]])
    return " ".join(parts)


def throughput(ports: Mapping[str, int], rounds: int, seconds: float) -> dict[str, Any]:
    """8 keep-alive clients on the sales-sorted first page, shops alternating round by round."""
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in ports}
    for round_no in range(rounds):
        for name, port in ports.items():
            say(f"catalog_100k: {THROUGHPUT_CLIENTS} clients, {name} shop, round {round_no + 1}/{rounds}")
            spec = {"mode": "throughput", "port": port, "method": "GET", "path": THROUGHPUT_PATH}
            spec.update(body=None, connections=THROUGHPUT_CLIENTS, requests=10**9, seconds=seconds)
            runs[name].append(run_load(spec))
    figures: dict[str, Any] = {
        name: {
            "per_s": median([r["per_s"] for r in rs]),
            "p50": median([r["ms"]["p50"] for r in rs if r["ms"]["p50"] is not None]),
            "p99": median([r["ms"]["p99"] for r in rs if r["ms"]["p99"] is not None]),
            "5xx": sum(r["http"]["5xx"] for r in rs),
            "errors": sum(r["http"]["errors"] for r in rs),
            "not_200": sum(n for r in rs for s, n in r["http"]["by_status"].items() if s != "200"),
            "runs": rs,
        }
        for name, rs in runs.items()
    }
    figures["large_vs_demo"] = ratio(figures[LARGE]["per_s"], figures[DEMO]["per_s"])
    return figures


def seed(database_url: str, redis_url: str, generated: int) -> dict[str, Any]:
    """Load the demo catalog and grow the generated one, as ``shop seed --products N`` does; time it."""
    services = make_services(database_url, redis_url)
    try:
        with services.db.writing() as session:
            added = seed_demo_catalog(session)
        for product in added:
            cache_product(services, product)
        seconds = None
        if generated:
            started = time.monotonic()
            with services.db.writing() as session:
                seed_big_catalog(session, generated)
            seconds = time.monotonic() - started
        # As `shop seed` does (and autovacuum would soon): the figures do not change mid-measurement.
        settle_after_bulk_load(services.db.engine)
        checkpoint(services.db.engine)
        with services.db.reading() as session:
            count = session.scalar(select(func.count()).select_from(Product))
    finally:
        services.close()
    return {"products": count, "generated": generated, "seed_s": seconds}


def checkpoint(engine: Engine) -> None:
    """On PostgreSQL, write the bulk load's pages out now (CHECKPOINT), not during the measurement.

    Otherwise the server's next checkpoint spreads those writes over most of its interval (4.5 of
    5 minutes by default), which is when the one-client sweep runs. Needs a superuser or
    pg_checkpoint; without one the bench goes on and says so.
    """
    if engine.dialect.name != "postgresql":
        return
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("CHECKPOINT"))
    except DBAPIError as error:
        say(f"catalog_100k: no CHECKPOINT after seeding ({error.orig})")


def _warm_up(clients: Mapping[str, Client]) -> None:
    """A few requests per shop first, so both gunicorn workers have imported and connected."""
    for _ in range(WARM_UP_REQUESTS):
        for client in clients.values():
            client.get(THROUGHPUT_PATH)


def run_database(kind: str, redis_url: str, size: dict[str, Any]) -> dict[str, Any]:
    """The whole scenario on one database kind: seed two shops, serve both, measure side by side."""
    started = time.monotonic()
    password = secrets.token_urlsafe(16)
    basic = base64.b64encode(f"{OPERATOR_USER}:{password}".encode()).decode()
    generated = size["catalog_products"]
    # The machine is shared: the 1-minute load average at the start and the end of this database's run.
    result: dict[str, Any] = {"database": kind, "load_avg": [os.getloadavg()[0]]}
    with scratch_database(kind) as demo_url, scratch_database(kind) as large_url:
        say(f"catalog_100k {kind}: seeding the demo catalog, and the demo catalog + {generated:,} products")
        result["seed"] = {DEMO: seed(demo_url, redis_url, 0), LARGE: seed(large_url, redis_url, generated)}
        say(f"catalog_100k {kind}: {generated:,} products seeded in {result['seed'][LARGE]['seed_s']:.1f} s")
        urls = {DEMO: demo_url, LARGE: large_url}
        env = {"OPERATOR_USER": OPERATOR_USER, "OPERATOR_PASSWORD": password}
        stacks = {name: Stack(shop_env(url, redis_url, **env)) for name, url in urls.items()}
        try:
            ports = {name: stack.start_web() for name, stack in stacks.items()}
            clients = {name: Client(port) for name, port in ports.items()}
            _warm_up(clients)
            plan = Plan(size["catalog_reps"], size["catalog_min_reps"], size["catalog_budget_s"])
            say(f"catalog_100k {kind}: one client, every GET /catalogs combination, up to {plan.reps} each")
            sweep_started = time.monotonic()
            rows = sweep(clients, plan)
            result["sweep_s"] = round(time.monotonic() - sweep_started, 1)
            result["sequential"] = rows
            result["worst"] = {name: worst(rows, name) for name in ports}
            result["throughput"] = throughput(ports, size["catalog_rounds"], size["catalog_load_s"])
            say(f"catalog_100k {kind}: storefront GET {STOREFRONT_PATH}")
            page_plan = Plan(size["catalog_page_reps"], 3, 2.0)
            front = sample(clients, dict.fromkeys(ports, STOREFRONT_PATH), page_plan)
            for figure in front.values():
                figure.pop("body")
            result["storefront"] = front
            # Last and one shop at a time: a request that times out keeps its worker busy.
            admin = {}
            for name, port in ports.items():
                say(f"catalog_100k {kind}: GET {ADMIN_PATH}, {name} shop, timeout {ADMIN_TIMEOUT_S:.0f} s")
                operator = Client(port, ADMIN_TIMEOUT_S, {"Authorization": f"Basic {basic}"})
                plan = Plan(size["catalog_page_reps"], 1, 2.0)
                admin[name] = sample({name: operator}, {name: ADMIN_PATH}, plan)[name]
                admin[name].pop("body")
                operator.close()
            result["admin_skus"] = admin
            for client in clients.values():
                client.close()
        finally:
            for stack in stacks.values():
                stack.stop()
    result["load_avg"].append(os.getloadavg()[0])
    result["seconds"] = round(time.monotonic() - started, 1)
    return result


def run(kinds: tuple[str, ...], redis_url: str, size: dict[str, Any]) -> dict[str, Any]:
    return {
        "generated": size["catalog_products"],
        "deep_page": DEEP_PAGE,
        "plan": {k: v for k, v in size.items() if k.startswith("catalog_")},
        "databases": [run_database(kind, redis_url, size) for kind in kinds],
    }
