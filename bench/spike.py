"""spike, baseline_sync, catalog and admit-vs-bare: the whole stack on PostgreSQL, loaded over loopback.

The stack is what the Procfile runs (gunicorn with its settings, two lane consumers, the scheduler),
with rate limits kept on but generous (one load process is one client address; the shop's defaults
would answer it 429 after 20 requests). The load comes from ``bench.load`` in a separate process.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rq.job import Job
from rq.utils import utcparse
from sqlalchemy import func, select

from bench import load
from bench.common import child_env, create_product, make_services, median, ratio, say
from bench.figures import percentile
from bench.stack import Stack
from config import BASE_DIR
from shop.domain.audit import audit
from shop.domain.demo import seed_demo_catalog
from shop.services import Services
from shop.storage.models import Hold, HoldStatus, Product

# Generous limits: the limiter still runs (its cost is measured) but never refuses the load process.
# One limit, as in the default configuration (each limit in the string costs a Redis round trip).
GENEROUS = "100000000/minute"
CATALOG_PATH = "/catalogs?page=1&limit=20&sortBy=sales&sortDir=desc"


# Load processes per run (--load-processes): the shoppers are split between them, so that no load
# process's event loop lags behind its shoppers (issue 12, target 8: lag p99 <= 20 ms).
LOAD_PROCESSES = 4
# Seconds between starting the load processes and their common start: enough for them all to be up.
LOAD_START_S = 1.5


def run_load(spec: dict[str, Any], processes: int | None = None, timeout_s: float = 300) -> dict[str, Any]:
    """Run one load across ``processes`` load processes started together; merge their raw samples."""
    parts = processes or LOAD_PROCESSES
    start_at = time.time() + LOAD_START_S + 0.1 * parts
    shared = {**spec, "start_at": start_at, "parts": parts, "raw": True}
    with tempfile.TemporaryDirectory(prefix="shop-bench-load-") as folder:
        outputs = [Path(folder) / f"part-{part}.json" for part in range(parts)]
        running = []
        for part, output in enumerate(outputs):
            with output.open("w") as handle:
                mine = {**shared, "part": part}
                if spec.get("spread_sources"):  # each part connects from an address of its own
                    mine["source"] = f"127.0.0.{2 + part}"
                running.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "bench.load", json.dumps(mine)],
                        cwd=BASE_DIR,
                        stdout=handle,
                        start_new_session=True,
                    )
                )
        deadline = time.monotonic() + LOAD_START_S + timeout_s
        try:
            for process in running:
                process.wait(max(1.0, deadline - time.monotonic()))
        finally:
            for process in running:
                if process.poll() is None:
                    process.kill()
                    process.wait()
        failed = [p.returncode for p in running if p.returncode != 0]
        if failed:
            raise RuntimeError(f"load processes exited with {failed}")
        raws = [json.loads(output.read_text().strip().splitlines()[-1]) for output in outputs]
    return load.SUMMARIES[spec["mode"]](shared, raws)


def shop_env(database_url: str, redis_url: str, **extra: Any) -> dict[str, str]:
    return child_env(
        database_url,
        redis_url,
        RATE_LIMIT_CART=GENEROUS,
        RATE_LIMIT_READ=GENEROUS,
        RATE_LIMIT_PAYMENT=GENEROUS,
        **extra,
    )


def _decisions_ms(services: Services, job_ids: list[str]) -> dict[str, Any]:
    """Server-side time from admission to applied, from each RQ job hash (enqueued_at, ended_at)."""
    pipe = services.redis.pipeline(transaction=False)
    for job_id in job_ids:
        pipe.hmget(Job.key_for(job_id), "enqueued_at", "ended_at")
    waits = []
    first_enqueued = last_ended = None
    for enqueued, ended in pipe.execute():
        if enqueued and ended:
            start, end = utcparse(enqueued.decode()), utcparse(ended.decode())
            waits.append((end - start).total_seconds() * 1000)
            first_enqueued = min(first_enqueued or start, start)
            last_ended = max(last_ended or end, end)
    window = None
    if first_enqueued and last_ended:
        window = {
            "first_started": first_enqueued.timestamp(),
            "last_decided": last_ended.timestamp(),
            "decided": len(waits),
        }
    return {
        "p50": percentile(waits, 50),
        "p99": percentile(waits, 99),
        "max": max(waits, default=None),
        "window": window,
    }


def decided_per_s(run: dict[str, Any]) -> float | None:
    """Decisions / seconds from the first admission to the last decision, from the server's clocks.

    The shop: RQ's ``enqueued_at`` of the first job to ``ended_at`` of the last (its job hashes);
    the synchronous app: when it took up its first request to when it committed its last (its
    ``X-Bench-*`` headers). Both are wall clock on this machine.
    """
    window = (run.get("decision_ms") or {}).get("window") or run.get("server_window")
    if not window or window["last_decided"] <= window["first_started"]:
        return None
    return window["decided"] / (window["last_decided"] - window["first_started"])


def _stock(services: Services, sku: str) -> dict[str, int]:
    with services.db.reading() as session:
        product = session.get(Product, sku)
        holds = session.scalar(
            select(func.coalesce(func.sum(Hold.qty), 0)).where(
                Hold.sku == sku, Hold.status == HoldStatus.ACTIVE
            )
        )
    return {"on_hand": product.on_hand, "reserved": product.reserved, "held_units": int(holds or 0)}


# Seconds a long-polling shopper asks the shop to hold its request open (LONG_POLL_MAX_SECONDS).
LONG_POLL_S = 10


def _spike_once(
    services: Services,
    stack: Stack,
    sku: str,
    shoppers: int,
    arrival_s: float,
    browsers: int,
    long_poll_s: int = 0,
    units: int = 100,
):
    create_product(services, sku, on_hand=units, max_per_cart=1)
    result = run_load(
        {
            "mode": "spike",
            "port": stack.port,
            "path": "/chart",
            "sku": sku,
            "shoppers": shoppers,
            "arrival_s": arrival_s,
            "browsers": browsers,
            "browse_path": CATALOG_PATH,
            "long_poll_s": long_poll_s,
        }
    )
    time.sleep(0.5)  # let the scheduler and consumers settle before reading memory
    result["decision_ms"] = _decisions_ms(services, result.pop("job_ids"))
    result["decided_per_s"] = decided_per_s(result)
    stock = _stock(services, sku)
    with services.db.writing() as session:
        report = audit(session)
    held = result["outcomes"].get("held", 0)
    result.update(
        stock,
        audit_ok=report.ok,
        violations=report.violations[:5],
        oversell=max(0, stock["held_units"] - stock["on_hand"]),
        held_answers=held,
        ok=report.ok and stock["held_units"] == units and held == units and result["answered"] == shoppers,
        memory=stack.memory(),
        processes_alive=stack.alive(),
    )
    return result


def _memory_growth(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    """Compare each process's peak and current RSS after two identical spikes."""
    rows = {}
    grew = False
    for name, before in first.items():
        after = second.get(name)
        if not after:
            continue
        delta_peak = after["peak_kib"] - before["peak_kib"]
        delta_rss = after["rss_kib"] - before["rss_kib"]
        # Allow allocator noise: 5% or 2 MiB, whichever is larger.
        limit = max(2048, before["peak_kib"] * 0.05)
        grew = grew or delta_peak > limit
        rows[name] = {
            "peak_kib": [before["peak_kib"], after["peak_kib"]],
            "rss_kib": [before["rss_kib"], after["rss_kib"]],
            "peak_growth_kib": delta_peak,
            "rss_growth_kib": delta_rss,
        }
    return {"processes": rows, "growth": grew}


@contextmanager
def shop_stack(services: Services, database_url: str, redis_url: str) -> Iterator[Stack]:
    """The demo catalog, then the Procfile's stack on it: gunicorn, two consumers, the scheduler."""
    with services.db.writing() as session:
        for product in seed_demo_catalog(session):
            services.lanes.cache_product(product.sku, product.max_per_cart)
    with Stack(shop_env(database_url, redis_url)) as stack:
        stack.start_web()
        stack.start_workers(consumers=2, scheduler=True)
        time.sleep(1.0)  # the consumers' first lease pass
        yield stack


def run_shop_spikes(
    database_url: str, redis_url: str, shoppers: int, arrival_s: float, steady: tuple[int, float]
) -> dict[str, Any]:
    """Three identical spikes on the real stack (two for the leak check, one with browsers), then a
    steady load the web tier can keep up with."""
    services = make_services(database_url, redis_url)
    try:
        with shop_stack(services, database_url, redis_url) as stack:
            runs = []
            for index in range(2):
                say(f"spike {index + 1}/2: {shoppers} shoppers within {arrival_s}s for 100 units")
                runs.append(_spike_once(services, stack, f"SPIKE-{index + 1}", shoppers, arrival_s, 0))
            say(f"catalog: the same spike with 8 shoppers browsing GET {CATALOG_PATH}")
            browsed = _spike_once(services, stack, "SPIKE-3", shoppers, arrival_s, 8)
            say("catalog: idle, for comparison")
            spec = {"mode": "throughput", "port": stack.port, "method": "GET", "path": CATALOG_PATH}
            idle = run_load({**spec, "body": None, "connections": 8, "requests": 2000})
            say(f"steady: {steady[0]} shoppers within {steady[1]}s for 100 units")
            calm = _spike_once(services, stack, "STEADY-1", steady[0], steady[1], 0)
            say(f"steady, long-polling: the same with Prefer: wait={LONG_POLL_S} and ?wait={LONG_POLL_S}")
            calm_long_poll = _spike_once(services, stack, "STEADY-2", steady[0], steady[1], 0, LONG_POLL_S)
    finally:
        services.close()
    return {
        "runs": runs,
        "memory": _memory_growth(runs[0]["memory"], runs[1]["memory"]),
        "catalog": {"during_spike": browsed["browse"], "idle": idle, "spike": _brief(browsed)},
        "steady": calm,
        "steady_long_poll": calm_long_poll,
    }


def _brief(run: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "shoppers",
        "admitted_per_s",
        "admit_ms",
        "answer_ms",
        "answered",
        "held_units",
        "oversell",
        "audit_ok",
        "http",
    )
    return {key: run.get(key) for key in keys}


def run_sync_baseline(
    database_url: str, redis_url: str, shoppers: int, arrival_s: float, steady: tuple[int, float]
) -> dict[str, Any]:
    """The same spikes against the synchronous checkout, and its naive read-check-write twin."""
    services = make_services(database_url, redis_url)
    try:
        with Stack(child_env(database_url, redis_url)) as stack:
            stack.start_web("bench.sync_app:create_app()")
            plan = (
                ("locked", "/hold", shoppers, arrival_s),
                ("naive", "/hold-naive", shoppers, arrival_s),
                ("steady", "/hold", *steady),
            )
            results = {}
            for name, path, count, seconds in plan:
                say(f"baseline_sync {name}: {count} shoppers within {seconds}s, 100 units, POST {path}")
                results[name] = _sync_once(services, stack, f"SYNC-{name.upper()}", path, count, seconds)
    finally:
        services.close()
    return results


def _sync_once(services: Services, stack: Stack, sku: str, path: str, shoppers: int, arrival_s: float):
    create_product(services, sku, on_hand=100, max_per_cart=1)
    spec = {"mode": "spike", "port": stack.port, "path": path, "sku": sku, "shoppers": shoppers}
    result = run_load({**spec, "arrival_s": arrival_s, "browsers": 0, "browse_path": "/"})
    result.pop("job_ids")
    result["decided_per_s"] = decided_per_s(result)
    stock = _stock(services, sku)
    result.update(
        stock,
        oversell=max(0, stock["held_units"] - stock["on_hand"]),
        held_answers=result["outcomes"].get("held", 0),
        memory=stack.memory(),
    )
    return result


def run_admit_vs_bare(database_url: str, redis_url: str, rounds: int, requests: int) -> dict[str, Any]:
    """Web tier alone (no consumers): POST /chart against a route that only does Queue.enqueue."""
    services = make_services(database_url, redis_url)
    variants = {
        "chart": ("wsgi:app", "/chart", {}),
        "chart_no_limiter": ("wsgi:app", "/chart", {"RATE_LIMIT_ENABLED": "0"}),
        "bare_enqueue": ("bench.enqueue_app:create_app()", "/enqueue", {}),
    }
    figures: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
    try:
        sku = create_product(services, "ADMIT-1", on_hand=1_000_000, max_per_cart=1000)
        stacks = {}
        for name, (app, _path, extra) in variants.items():
            stacks[name] = Stack(shop_env(database_url, redis_url, **extra))
            stacks[name].start_web(app)
        try:
            for round_no in range(rounds):
                for name, (_app, path, _extra) in variants.items():
                    say(f"admit vs bare, round {round_no + 1}/{rounds}: {name}, {requests} requests")
                    figures[name].append(
                        run_load(
                            {
                                "mode": "throughput",
                                "port": stacks[name].port,
                                "method": "POST",
                                "path": path,
                                "body": {"sku": sku, "qty": 1},
                                "connections": 32,
                                "requests": requests,
                            }
                        )  # fmt: skip
                    )
        finally:
            for stack in stacks.values():
                stack.stop()
    finally:
        services.close()
    medians = {name: median([r["per_s"] for r in runs]) for name, runs in figures.items()}
    p99 = {name: median([r["ms"]["p99"] for r in runs]) for name, runs in figures.items()}
    return {
        "per_s": medians,
        "p99_ms": p99,
        "chart_vs_bare": ratio(medians["chart"], medians["bare_enqueue"]),
        "chart_no_limiter_vs_bare": ratio(medians["chart_no_limiter"], medians["bare_enqueue"]),
        "errors_5xx": sum(r["http"]["5xx"] for runs in figures.values() for r in runs),
        "runs": figures,
    }


# The round trip the realistic database adds (issue 12, target 2): 0.5 ms each way.
DB_RTT_MS = 1.0


def run_spike_db_latency(
    shop_url: str, sync_url: str, redis_url: str, shoppers: int, arrival_s: float, rounds: int
) -> dict[str, Any]:
    """The spike against the shop and the synchronous app, both reaching PostgreSQL through a proxy
    that adds DB_RTT_MS to every round trip; the stacks alternate round by round.

    Each stack has a database of its own: the synchronous app's holds have no ledger rows, and the
    shop's audit after each spike must see only the shop's.
    """
    from bench.latency_proxy import delayed_database, measure_rtt, through

    services = make_services(shop_url, redis_url)
    sync_services = make_services(sync_url, redis_url)
    runs: dict[str, list[dict[str, Any]]] = {"shop": [], "sync": []}
    try:
        with delayed_database(shop_url, DB_RTT_MS) as (port, rtt):
            say(
                f"spike_db_latency: PostgreSQL through bench/latency_proxy.py, +{rtt['added_rtt_ms']:.2f} ms"
                f" per round trip (asked {DB_RTT_MS} ms)"
            )
            shop_env_ = shop_env(through(shop_url, port), redis_url)
            sync_env = child_env(through(sync_url, port), redis_url)
            with Stack(shop_env_) as shop, Stack(sync_env) as sync:
                shop.start_web()
                shop.start_workers(consumers=2, scheduler=True)
                sync.start_web("bench.sync_app:create_app()")
                time.sleep(1.0)
                for round_no in range(rounds):
                    tag = f"{round_no + 1}/{rounds}"
                    say(f"spike_db_latency {tag}: shop, {shoppers} shoppers within {arrival_s}s, 100 units")
                    runs["shop"].append(
                        _spike_once(services, shop, f"DBLAT-SHOP-{round_no + 1}", shoppers, arrival_s, 0)
                    )
                    say(f"spike_db_latency {tag}: sync FOR UPDATE, the same spike")
                    runs["sync"].append(
                        _sync_once(
                            sync_services, sync, f"DBLAT-SYNC-{round_no + 1}", "/hold", shoppers, arrival_s
                        )
                    )
            rtt_after = measure_rtt(shop_url, through(shop_url, port))
    finally:
        services.close()
        sync_services.close()
    figures = {
        name: {
            "decided_per_s": median([r["decided_per_s"] for r in rs if r["decided_per_s"]]),
            "answer_p99_ms": median([r["answer_ms"]["p99"] for r in rs if r["answer_ms"]["p99"]]),
            "admitted_per_s": median([r["admitted_per_s"] for r in rs if r["admitted_per_s"]]),
        }
        for name, rs in runs.items()
    }
    return {
        "rtt": rtt,
        "rtt_after": rtt_after,
        "rounds": rounds,
        "figures": figures,
        "decided_vs_sync": ratio(figures["shop"]["decided_per_s"], figures["sync"]["decided_per_s"]),
        "answer_p99_vs_sync": ratio(figures["shop"]["answer_p99_ms"], figures["sync"]["answer_p99_ms"]),
        "runs": runs,
    }
