"""growth: a spike ten times longer and wider, and whether memory comes back once it is over.

Issue 12, target 7: 50,000 shoppers arriving within 10 s for 1,000 units, on the Procfile's stack
(PostgreSQL, gunicorn 2 x 8, two consumers, the scheduler), the load split across several load
processes. Every shopper must be answered, nothing oversold, and Redis and every process's memory
must return to their baseline once the jobs' TTL has passed.

The TTLs are the shop's documented settings, set short so the wait is bounded: RESULT_TTL_SECONDS
(``ttl_s``: finished jobs and their results) and HOLD_TTL_SECONDS (``hold_ttl_s``: a hold's expiry job
runs then, and its result expires ``ttl_s`` later). ``ttl_s`` stays above the API's longest poll
interval (10 s), or shoppers would find their results gone (the load counts those as ``lost``).
A hold may therefore expire while the line still
drains and its unit go to a later shopper: "no oversell" is judged as active holds <= units and a
clean audit, at the end of the drain and after the TTL, not as exactly 1,000 "held" answers.

A request may take 120 s (a browser's patience for a connection), and each load process connects
from a loopback address of its own, so that neither the 30 s of the other scenarios nor the
ephemeral ports of one address decide who is answered.

The baseline is taken after a small warm-up spike on another SKU and the same TTL wait (so modules
loaded, pools filled and caches warmed count as baseline, not as growth). While the load runs, a
sampler thread reads Redis's ``used_memory`` and key count, every process's RSS and the lane's
now-serving ticket every 0.5 s; peak RSS is the kernel's ``VmHWM``.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from redis import Redis

from bench.common import create_product, make_services, say
from bench.spike import _spike_once, _stock, run_load, shop_env
from bench.stack import Stack
from shop.domain.audit import audit
from shop.domain.requests import sku_lane
from shop.lanes.keys import lane_key

SAMPLE_S = 0.5
# Ten times the spike's shoppers per second: twice the spike's load processes, so each loop keeps up.
GROWTH_LOAD_PROCESSES = 8
# "Back to baseline": within 10% or this much (allocator and Redis bookkeeping noise).
PROCESS_SLACK_KIB = 5 * 1024
REDIS_SLACK_BYTES = 1024 * 1024
REDIS_SLACK_KEYS = 100


def _redis_figures(redis: Redis) -> dict[str, int]:
    info = redis.info("memory")
    return {"used_memory": int(info["used_memory"]), "keys": int(redis.dbsize())}


class Sampler(threading.Thread):
    """Redis memory and keys, the processes' RSS and the lane's progress, every SAMPLE_S."""

    def __init__(self, redis: Redis, stack: Stack, lane: str) -> None:
        super().__init__(daemon=True)
        self.redis, self.stack, self.lane = redis, stack, lane
        self.samples: list[dict[str, Any]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            self.sample()
            self.halt.wait(SAMPLE_S)

    def sample(self) -> None:
        serving, ticket = self.redis.mget(lane_key(self.lane, "serving"), lane_key(self.lane, "ticket"))
        self.samples.append(
            {
                "at": time.time(),
                **_redis_figures(self.redis),
                "serving": int(serving or 0),
                "ticket": int(ticket or 0),
                "rss_kib": {name: m.get("rss_kib", 0) for name, m in self.stack.memory().items()},
            }
        )

    def stop(self) -> list[dict[str, Any]]:
        """Stop sampling, with one last sample (the last decisions may fall after the last tick)."""
        self.halt.set()
        self.join(5)
        self.sample()
        return self.samples


def _within(after: float, baseline: float, slack: float) -> bool:
    return after <= baseline + max(slack, 0.1 * baseline)


def _returned(baseline: dict[str, Any], now: dict[str, Any]) -> dict[str, Any]:
    """Which of Redis's memory, its keys and each process's RSS are back near their baseline."""
    processes = {
        name: _within(now["memory"].get(name, {}).get("rss_kib", 0), m["rss_kib"], PROCESS_SLACK_KIB)
        for name, m in baseline["memory"].items()
    }
    redis_ok = _within(now["redis"]["used_memory"], baseline["redis"]["used_memory"], REDIS_SLACK_BYTES)
    keys_ok = now["redis"]["keys"] <= baseline["redis"]["keys"] + REDIS_SLACK_KEYS
    return {
        "redis_memory": redis_ok,
        "redis_keys": keys_ok,
        "processes": processes,
        "all": redis_ok and keys_ok and all(processes.values()),
    }


def _largest_keys(redis: Redis, limit: int = 5, scan_at_most: int = 10_000) -> list[tuple[str, int]]:
    """What stayed in Redis after the TTLs: its largest keys and their bytes (MEMORY USAGE)."""
    sizes = []
    for index, key in enumerate(redis.scan_iter(count=1000)):
        if index >= scan_at_most:
            break
        sizes.append((key.decode(errors="replace"), int(redis.memory_usage(key) or 0)))
    return sorted(sizes, key=lambda item: -item[1])[:limit]


def _snapshot(redis: Redis, stack: Stack) -> dict[str, Any]:
    return {"at": time.time(), "redis": _redis_figures(redis), "memory": stack.memory()}


def run(
    database_url: str,
    redis_url: str,
    *,
    shoppers: int,
    arrival_s: float,
    units: int,
    ttl_s: int,
    hold_ttl_s: int,
    warmup_shoppers: int,
    processes: int | None = None,
) -> dict[str, Any]:
    """The long spike on a stack whose job and hold TTLs are ``ttl_s``; memory before, during, after."""
    services = make_services(database_url, redis_url)
    redis = Redis.from_url(redis_url)
    env = shop_env(database_url, redis_url, RESULT_TTL_SECONDS=ttl_s, HOLD_TTL_SECONDS=hold_ttl_s)
    # A hold's expiry runs hold_ttl_s after it was taken and its result lives ttl_s more; then the
    # scheduler's 1 s tick and Redis's expiry cycle: 10 s of margin.
    settle_s = hold_ttl_s + ttl_s + 10
    try:
        with Stack(env) as stack:
            stack.start_web()
            stack.start_workers(consumers=2, scheduler=True)
            time.sleep(1.0)
            say(f"growth: warm-up, {warmup_shoppers} shoppers for 10 units, then {settle_s}s for the TTLs")
            warm = _spike_once(services, stack, "GROW-WARM", warmup_shoppers, 1.0, 0, units=10)
            time.sleep(settle_s)
            baseline = _snapshot(redis, stack)
            sku = "GROW-1"
            create_product(services, sku, on_hand=units, max_per_cart=1)
            sampler = Sampler(redis, stack, sku_lane(sku))
            sampler.start()
            say(f"growth: {shoppers} shoppers within {arrival_s}s for {units} units")
            try:
                load = run_load(
                    {
                        "mode": "spike",
                        "port": stack.port,
                        "path": "/chart",
                        "sku": sku,
                        "shoppers": shoppers,
                        "arrival_s": arrival_s,
                        "browsers": 0,
                        "browse_path": "/",
                        "answer_timeout_s": 600,
                        # A browser waits ~2 minutes for a connection (6 SYN retries), not 30 s;
                        # 50,000 connections need more ephemeral ports than one source address has.
                        "request_timeout_s": 120,
                        "spread_sources": True,
                    },
                    processes=processes or GROWTH_LOAD_PROCESSES,
                    timeout_s=900,
                )
            finally:
                samples = sampler.stop()
            load.pop("job_ids")
            drained = _snapshot(redis, stack)
            stock_drained = _stock(services, sku)
            with services.db.writing() as session:
                report_drained = audit(session)
            say(f"growth: answered {load['answered']}/{shoppers}; waiting up to {settle_s}s past the TTLs")
            deadline = time.monotonic() + settle_s
            waited_from = time.monotonic()
            while True:
                after = _snapshot(redis, stack)
                returned = _returned(baseline, after)
                if returned["all"] or time.monotonic() >= deadline:
                    break
                time.sleep(1.0)
            returned_after_s = time.monotonic() - waited_from
            left = _largest_keys(redis)
            stock_after = _stock(services, sku)
            with services.db.writing() as session:
                report_after = audit(session)
            alive = stack.alive()
    finally:
        redis.close()
        services.close()
    start_at = load["start_at"]
    first_admitted = start_at + load["first_admitted_s"] if load["first_admitted_s"] is not None else None
    last_answer = start_at + load["last_answer_s"] if load["last_answer_s"] is not None else None
    final_ticket = max((s["ticket"] for s in samples), default=0)
    served_at = next((s["at"] for s in samples if final_ticket and s["serving"] >= final_ticket), None)
    peak = {name: m.get("peak_kib", 0) for name, m in after["memory"].items()}
    oversell = max(
        0,
        stock_drained["held_units"] - stock_drained["on_hand"],
        stock_after["held_units"] - stock_after["on_hand"],
    )
    return {
        "shoppers": shoppers,
        "arrival_s": arrival_s,
        "units": units,
        "ttl_s": ttl_s,
        "hold_ttl_s": hold_ttl_s,
        "load": load,
        "warmup": {"answered": warm["answered"], "shoppers": warm["shoppers"], "audit_ok": warm["audit_ok"]},
        "drain_s": (last_answer - first_admitted) if first_admitted and last_answer else None,
        "served_s": (served_at - first_admitted) if served_at and first_admitted else None,
        "stock_drained": stock_drained,
        "stock_after": stock_after,
        "held_answers": load["outcomes"].get("held", 0),
        "oversell": oversell,
        "audit_ok": report_drained.ok and report_after.ok,
        "violations": (report_drained.violations + report_after.violations)[:5],
        "baseline": baseline,
        "drained": drained,
        "after": after,
        "returned": returned,
        "returned_after_s": returned_after_s,
        "largest_keys_after": left,
        "peak_kib": peak,
        "redis_peak": {
            "used_memory": max((s["used_memory"] for s in samples), default=0),
            "keys": max((s["keys"] for s in samples), default=0),
        },
        "processes_alive": alive,
        "samples": samples,
    }
