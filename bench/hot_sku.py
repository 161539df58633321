"""hot_sku: one SKU, many carts, every request a hold that succeeds; applied holds per second.

Three ways to apply the same kind of request, measured round by round in one process so that the
machine's noise hits all three alike:

* the real lane consumer (``Consumer(...).run(burst=True)``), batches of BATCH_SIZE;
* RQ's stock ``SimpleWorker`` running the same RQ jobs one job per transaction (workers/jobs.py);
* the raw database limit: guarded UPDATE + hold INSERT, one transaction each, one connection.

Requests are put in line through ``shop.lanes.admission.request_hold`` (``Lanes.admit``), as the web tier
does. Every run is followed by ``shop.domain.audit.audit`` and a check that exactly the expected units are
held.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import func, insert, select, update

from bench.common import (
    cart_id,
    child_env,
    create_product,
    make_services,
    median,
    ratio,
    say,
    scratch_database,
)
from config import BASE_DIR
from shop.domain.audit import audit
from shop.domain.ledger import insert_ignoring_conflicts
from shop.domain.requests import sku_lane
from shop.lanes.admission import request_hold
from shop.services import Services
from shop.storage.models import Cart, Hold, HoldStatus, Product, utcnow
from workers.consumer import Consumer


class TimedConsumer(Consumer):
    """The real consumer, noting when it finished its last batch (burst mode idles a moment after)."""

    last_applied_at = 0.0

    def serve(self, lane: str) -> int:
        applied = super().serve(lane)
        if applied:
            self.last_applied_at = time.perf_counter()
        return applied


def _admit(services: Services, sku: str, n: int, run: str) -> float:
    """Put n hold requests for one SKU in line from n carts; return admissions per second."""
    started = time.perf_counter()
    for index in range(n):
        request_hold(services, cart_id(run, index), sku, 1)
    return n / (time.perf_counter() - started)


def _check(services: Services, sku: str, expected_holds: int) -> dict[str, Any]:
    """Audit the whole database and count the SKU's active holds and reserved units."""
    with services.db.writing() as session:
        report = audit(session)
    with services.db.reading() as session:
        reserved = session.scalar(select(Product.reserved).where(Product.sku == sku))
        holds = session.scalar(select(func.count()).where(Hold.sku == sku, Hold.status == HoldStatus.ACTIVE))
    ok = report.ok and reserved == expected_holds and holds == expected_holds
    return {"audit_ok": report.ok, "violations": report.violations[:5], "held": holds, "ok": ok}


def run_consumer(services: Services, n: int, run: str, batch_size: int) -> dict[str, Any]:
    sku = create_product(services, f"HOT-C-{run}", on_hand=n)
    admit_rate = _admit(services, sku, n, run)
    consumer = TimedConsumer(services, name=f"bench-{run}", batch_size=batch_size)
    started = time.perf_counter()
    applied = consumer.run(burst=True)
    seconds = max(1e-9, consumer.last_applied_at - started)
    return {
        "requests": n,
        "applied": applied,
        "seconds": seconds,
        "holds_per_s": applied / seconds,
        "admit_per_s": admit_rate,
        **_check(services, sku, n),
    }


def run_simple_worker(services: Services, n: int, run: str) -> dict[str, Any]:
    sku = create_product(services, f"HOT-S-{run}", on_hand=n)
    _admit(services, sku, n, run)
    # The lane was announced to consumers; none runs now, and the RQ worker reads the queue itself.
    env = child_env(services.config.DATABASE_URL, services.config.REDIS_URL)
    done = subprocess.run(
        [sys.executable, "-m", "bench.rq_worker", sku_lane(sku)],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    return {
        "requests": n,
        "applied": figures["finished"],
        "failed": figures["failed"],
        "seconds": figures["seconds"],
        "holds_per_s": figures["finished"] / figures["seconds"],
        **_check(services, sku, n),
    }


def run_raw(services: Services, n: int, run: str) -> dict[str, Any]:
    """The database alone: guarded UPDATE + INSERT, one transaction each, one connection, SQLAlchemy."""
    sku = create_product(services, f"RAW-{run}", on_hand=n)
    carts = [cart_id(run, index) for index in range(n)]
    now = utcnow()
    with services.db.writing() as session, session.begin():
        for start in range(0, n, 500):  # the holds' carts exist already, as they would
            rows = [{"id": c, "created_at": now} for c in carts[start : start + 500]]
            insert_ignoring_conflicts(session, Cart, rows)
    take_one = (
        update(Product)
        .where(Product.sku == sku, Product.on_hand - Product.reserved >= 1)
        .values(reserved=Product.reserved + 1)
    )
    add_hold = insert(Hold)
    ttl = timedelta(minutes=10)
    engine = services.db.engine.execution_options(write=True)  # BEGIN IMMEDIATE on SQLite, as the shop
    with engine.connect() as conn:
        started = time.perf_counter()
        for index in range(n):
            now = utcnow()
            with conn.begin():
                if conn.execute(take_one).rowcount != 1:
                    raise RuntimeError("raw loop: the guard refused a unit that exists")
                conn.execute(
                    add_hold,
                    {
                        "cart_id": carts[index],
                        "sku": sku,
                        "qty": 1,
                        "status": HoldStatus.ACTIVE,
                        "in_cart": True,
                        "expires_at": now + ttl,
                        "request_id": f"raw-{run}-{index}",
                        "created_at": now,
                        "updated_at": now,
                    },
                )
        seconds = time.perf_counter() - started
    # Raw holds have no ledger rows (the audit would rightly flag them): check the counts only.
    with services.db.reading() as session:
        reserved = session.scalar(select(Product.reserved).where(Product.sku == sku))
    return {"requests": n, "applied": n, "seconds": seconds, "holds_per_s": n / seconds, "ok": reserved == n}


def run_database(
    kind: str, redis_url: str, *, n: int, sw_n: int, raw_n: int, rounds: int, batch_size: int
) -> dict[str, Any]:
    """All three, ``rounds`` times interleaved, on a fresh database of the given kind."""
    consumer, simple, raw = [], [], []
    with scratch_database(kind) as url:
        services = make_services(url, redis_url)
        try:
            services.redis.flushdb()
            for round_no in range(rounds):
                tag = f"{kind[:2]}{round_no}"
                say(f"hot_sku {kind} round {round_no + 1}/{rounds}: consumer, {n} holds")
                consumer.append(run_consumer(services, n, f"c{tag}", batch_size))
                say(f"hot_sku {kind} round {round_no + 1}/{rounds}: RQ SimpleWorker, {sw_n} holds")
                simple.append(run_simple_worker(services, sw_n, f"s{tag}"))
                say(f"hot_sku {kind} round {round_no + 1}/{rounds}: raw database loop, {raw_n} holds")
                raw.append(run_raw(services, raw_n, f"r{tag}"))
                # Raw holds have no ledger rows; drop them so the next rounds' audits stay meaningful.
                with services.db.writing() as session, session.begin():
                    session.execute(Hold.__table__.delete().where(Hold.request_id.like("raw-%")))
                    session.execute(update(Product).where(Product.sku.like("RAW-%")).values(reserved=0))
        finally:
            services.close()
    c = median([r["holds_per_s"] for r in consumer])
    s = median([r["holds_per_s"] for r in simple])
    w = median([r["holds_per_s"] for r in raw])
    return {
        "database": kind,
        "requests_per_round": {"consumer": n, "simple_worker": sw_n, "raw": raw_n},
        "rounds": rounds,
        "batch_size": batch_size,
        "consumer_holds_per_s": c,
        "simple_worker_holds_per_s": s,
        "raw_db_holds_per_s": w,
        "admit_per_s": median([r["admit_per_s"] for r in consumer]),
        "consumer_vs_simple_worker": ratio(c, s),
        "consumer_vs_raw_db": ratio(c, w),
        "invariants_ok": all(r["ok"] for r in consumer + simple + raw),
        "runs": {"consumer": consumer, "simple_worker": simple, "raw": raw},
    }
