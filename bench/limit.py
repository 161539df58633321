"""limit: how fast this machine can drain a Redis list into a database, with no shop code at all.

The yardstick for hot_sku (issue 12, target 5): the consumer must apply at least a share of what
the plainest possible drain does on the same machine in the same run. Per batch of ``BATCH`` ids
popped from a Redis list (``LPOP key 100``): one transaction holding one guarded ``UPDATE`` of the
stock row for the whole batch and one ``executemany`` of the batch's hold rows (psycopg 3, which
pipelines ``executemany``; sqlite3's C loop, WAL and ``synchronous=NORMAL`` as the shop sets them).
The hold table has the hold's essential columns, a unique request id (the shop's idempotency key)
and an index on (sku, status), in tables of its own in the run's scratch database.
Checked after every run: stock reserved, holds written and distinct request ids all equal the
requests, and the list is empty.
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from redis import Redis
from sqlalchemy.engine import make_url

from bench.common import PG_SERVER_URL, median, say
from devtools.databases import own_postgres_database

BATCH = 100
HOLD_TTL = timedelta(minutes=10)
SKU = "LIMIT-1"

SCHEMA = (
    "CREATE TABLE limit_stock (sku VARCHAR(64) PRIMARY KEY, on_hand INTEGER NOT NULL,"
    " reserved INTEGER NOT NULL)",
    "CREATE TABLE limit_holds (id {serial} PRIMARY KEY, request_id VARCHAR(64) NOT NULL UNIQUE,"
    " cart_id VARCHAR(64) NOT NULL, sku VARCHAR(64) NOT NULL, qty INTEGER NOT NULL,"
    " status VARCHAR(16) NOT NULL, in_cart BOOLEAN NOT NULL, expires_at {ts} NOT NULL,"
    " created_at {ts} NOT NULL)",
    "CREATE INDEX ix_limit_holds_sku_status ON limit_holds (sku, status)",
)
TAKE = "UPDATE limit_stock SET reserved = reserved + {p} WHERE sku = {p} AND on_hand - reserved >= {p}"
ADD = (
    "INSERT INTO limit_holds (request_id, cart_id, sku, qty, status, in_cart, expires_at, created_at)"
    " VALUES ({p}, {p}, {p}, 1, 'active', TRUE, {p}, {p})"
)


def _fill(redis: Redis, key: str, n: int, run: str) -> None:
    """Put n request ids (with their cart ids) in a Redis list, as a lane would hold them."""
    redis.delete(key)
    for start in range(0, n, 10_000):
        redis.rpush(key, *(f"{run}-{i}|cart-{run}-{i}" for i in range(start, min(n, start + 10_000))))


def _drain(redis: Redis, key: str, apply: Callable[[list[tuple[str, ...]]], None]) -> tuple[int, float]:
    """Pop BATCH at a time and apply each batch; return the count and the seconds it took."""
    done = 0
    started = time.perf_counter()
    while True:
        items = redis.lpop(key, BATCH)
        if not items:
            break
        now = datetime.now(UTC)
        rows = []
        for item in items:
            request_id, cart = item.decode().split("|", 1)
            rows.append((request_id, cart, SKU, now + HOLD_TTL, now))
        apply(rows)
        done += len(rows)
    return done, time.perf_counter() - started


def _postgres_round(url: str, redis: Redis, n: int, run: str) -> dict[str, Any]:
    import psycopg

    parsed = make_url(url)
    dsn = f"host={parsed.host} port={parsed.port or 5432} user={parsed.username} dbname={parsed.database}"
    with psycopg.connect(dsn) as conn:
        _reset(conn, n, serial="BIGSERIAL", ts="TIMESTAMPTZ", p="%s")
        take, add = TAKE.format(p="%s"), ADD.format(p="%s")

        def apply(rows: list[tuple[str, ...]]) -> None:
            with conn.transaction(), conn.cursor() as cur:
                cur.execute(take, (len(rows), SKU, len(rows)))
                if cur.rowcount != 1:
                    raise RuntimeError("limit: the guard refused units that exist")
                cur.executemany(add, rows)

        key = f"bench:limit:{run}"
        _fill(redis, key, n, run)
        applied, seconds = _drain(redis, key, apply)
        return {**_check(conn, redis, key, n), "applied": applied, "seconds": seconds}


def _sqlite_round(folder: Path, redis: Redis, n: int, run: str) -> dict[str, Any]:
    conn = sqlite3.connect(folder / f"limit-{run}.db", isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        _reset(conn, n, serial="INTEGER", ts="TIMESTAMP", p="?")
        take, add = TAKE.format(p="?"), ADD.format(p="?")

        def apply(rows: list[tuple[str, ...]]) -> None:
            conn.execute("BEGIN IMMEDIATE")
            try:
                if conn.execute(take, (len(rows), SKU, len(rows))).rowcount != 1:
                    raise RuntimeError("limit: the guard refused units that exist")
                conn.executemany(add, [(r[0], r[1], r[2], r[3].isoformat(), r[4].isoformat()) for r in rows])
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

        key = f"bench:limit:{run}"
        _fill(redis, key, n, run)
        applied, seconds = _drain(redis, key, apply)
        return {**_check(conn, redis, key, n), "applied": applied, "seconds": seconds}
    finally:
        conn.close()


def _reset(conn: Any, n: int, *, serial: str, ts: str, p: str) -> None:
    """Fresh tables with one stock row of n units (committed before the clock starts)."""
    for table in ("limit_holds", "limit_stock"):
        conn.execute(f"DROP TABLE IF EXISTS {table}")
    for statement in SCHEMA:
        conn.execute(statement.format(serial=serial, ts=ts))
    conn.execute(f"INSERT INTO limit_stock (sku, on_hand, reserved) VALUES ({p}, {p}, 0)", (SKU, n))
    conn.commit()


def _check(conn: Any, redis: Redis, key: str, n: int) -> dict[str, Any]:
    reserved = conn.execute("SELECT reserved FROM limit_stock WHERE sku = 'LIMIT-1'").fetchone()[0]
    holds, distinct = conn.execute("SELECT count(*), count(DISTINCT request_id) FROM limit_holds").fetchone()
    left = redis.llen(key)
    conn.commit()
    ok = reserved == holds == distinct == n and left == 0
    return {"requests": n, "reserved": reserved, "holds": holds, "left_in_list": left, "ok": ok}


@contextmanager
def _database(kind: str) -> Iterator[str]:
    """An empty database of our own: a folder for SQLite files, or a fresh PostgreSQL database."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="shop-bench-limit-") as folder:
            yield folder
        return
    with own_postgres_database(PG_SERVER_URL, "shop_bench_limit") as url:
        yield url


def run(kinds: tuple[str, ...], redis_url: str, n: int, rounds: int) -> list[dict[str, Any]]:
    """Drain n requests per round, ``rounds`` times, on each database; medians of the rounds."""
    redis = Redis.from_url(redis_url)
    found = []
    try:
        for kind in kinds:
            with _database(kind) as where:
                runs = []
                for round_no in range(rounds):
                    say(f"limit {kind} round {round_no + 1}/{rounds}: {n} requests, {BATCH} per transaction")
                    tag = f"{kind[:2]}{round_no}"
                    if kind == "postgres":
                        runs.append(_postgres_round(where, redis, n, tag))
                    else:
                        runs.append(_sqlite_round(Path(where), redis, n, tag))
                    runs[-1]["per_s"] = runs[-1]["applied"] / runs[-1]["seconds"]
            found.append(
                {
                    "database": kind,
                    "batch": BATCH,
                    "requests_per_round": n,
                    "rounds": rounds,
                    "per_s": median([r["per_s"] for r in runs]),
                    "invariants_ok": all(r["ok"] for r in runs),
                    "runs": runs,
                }
            )
    finally:
        redis.close()
    return found
