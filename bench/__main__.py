"""``make bench``: run every scenario, print one table, write the figures to bench/results/.

    python -m bench                      # everything (a few minutes on 2 cores)
    python -m bench --only hot_sku       # one or more of: hot_sku, limit, spike, baseline_sync,
                                         # spike_db_latency, admit, growth, catalog_100k
    python -m bench --quick              # small sizes, to check the bench itself works
    python -m bench --load-processes 4   # how many load processes share each load (default 4)
    python -m bench --profile            # also sample the hot paths with py-spy (see bench/profile.py)

Needs PostgreSQL for everything but the SQLite halves of hot_sku, limit and catalog_100k (BENCH_POSTGRES_URL,
default postgresql+psycopg://postgres@127.0.0.1:5432/postgres); the bench creates databases of its own
there and drops them afterwards, and starts its own Redis on a free port.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from typing import Any

from bench import capacity, catalog, growth, hot_sku, limit, report, spike
from bench.common import RESULTS_DIR, machine, postgres_reachable, say, scratch_database
from devtools.redis_server import RedisServer

SIZES = {
    "full": {"n": 20_000, "sw_n": 1_000, "raw_n": 5_000, "rounds": 3, "shoppers": 5_000, "arrival_s": 2.0,
             "steady_shoppers": 2_000, "steady_arrival_s": 10.0, "admit_rounds": 3, "admit_requests": 3_000,
             "catalog_products": 100_000, "catalog_reps": 100, "catalog_min_reps": 100,
             "catalog_budget_s": 2.0, "catalog_rounds": 3, "catalog_load_s": 3.0, "catalog_page_reps": 10,
             "db_latency_rounds": 2, "limit_n": 100_000, "limit_rounds": 3,
             "growth_shoppers": 50_000, "growth_arrival_s": 10.0, "growth_units": 1_000, "growth_ttl_s": 60,
             "growth_hold_ttl_s": 10, "growth_warmup": 500},
    "quick": {"n": 2_000, "sw_n": 200, "raw_n": 1_000, "rounds": 1, "shoppers": 500, "arrival_s": 1.0,
              "steady_shoppers": 200, "steady_arrival_s": 2.0, "admit_rounds": 1, "admit_requests": 500,
              "catalog_products": 10_000, "catalog_reps": 3, "catalog_min_reps": 1, "catalog_budget_s": 0.1,
              "catalog_rounds": 1, "catalog_load_s": 1.0, "catalog_page_reps": 2,
              "db_latency_rounds": 1, "limit_n": 10_000, "limit_rounds": 1,
              "growth_shoppers": 2_000, "growth_arrival_s": 2.0, "growth_units": 100, "growth_ttl_s": 15,
              "growth_hold_ttl_s": 5, "growth_warmup": 100},
}  # fmt: skip
SCENARIOS = (
    "hot_sku", "limit", "spike", "baseline_sync", "spike_db_latency", "admit", "growth", "capacity",
    "catalog_100k",
)  # fmt: skip
# The scenarios that need PostgreSQL whatever else is there.
PG_ONLY = {"spike", "baseline_sync", "spike_db_latency", "admit", "growth", "capacity"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The flash-sale benchmark suite.")
    parser.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated scenarios")
    parser.add_argument("--quick", action="store_true", help="small sizes (checks the bench, not the shop)")
    parser.add_argument("--profile", action="store_true", help="also profile the hot paths with py-spy")
    parser.add_argument("--batch-size", type=int, default=200, help="the consumer's BATCH_SIZE")
    parser.add_argument(
        "--load-processes",
        type=int,
        default=spike.LOAD_PROCESSES,
        help="load processes each load is split between (their raw samples merged)",
    )
    args = parser.parse_args(argv)
    # A SIGTERM (a stopped make, a timeout) unwinds like Ctrl-C: every stack, proxy, Redis and
    # scratch database is torn down by its own `with` block on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.load_processes < 1:
        parser.error("--load-processes must be at least 1")
    spike.LOAD_PROCESSES = args.load_processes
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(chosen) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    size = SIZES["quick" if args.quick else "full"]
    has_pg = postgres_reachable()
    if not has_pg:
        say("PostgreSQL is not reachable: hot_sku, limit and catalog_100k on SQLite only, skipping the rest")
    results: dict[str, Any] = {
        "machine": machine(),
        "sizes": size,
        "load_processes": args.load_processes,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    started = time.monotonic()
    with RedisServer() as redis:
        if "hot_sku" in chosen:
            results["hot_sku"] = [
                hot_sku.run_database(
                    kind, redis.url, n=size["n"], sw_n=size["sw_n"], raw_n=size["raw_n"],
                    rounds=size["rounds"], batch_size=args.batch_size,
                )
                for kind in (("sqlite", "postgres") if has_pg else ("sqlite",))
            ]  # fmt: skip
        if "limit" in chosen:
            kinds = ("sqlite", "postgres") if has_pg else ("sqlite",)
            results["limit"] = limit.run(kinds, redis.url, size["limit_n"], size["limit_rounds"])
        if has_pg and PG_ONLY & set(chosen):
            steady = (size["steady_shoppers"], size["steady_arrival_s"])
            with scratch_database("postgres") as url:
                if "spike" in chosen:
                    _fresh(redis)
                    results["spike"] = spike.run_shop_spikes(
                        url, redis.url, size["shoppers"], size["arrival_s"], steady
                    )
                if "baseline_sync" in chosen:
                    results["baseline_sync"] = spike.run_sync_baseline(
                        url, redis.url, size["shoppers"], size["arrival_s"], steady
                    )
                if "spike_db_latency" in chosen:
                    _fresh(redis)
                    with scratch_database("postgres") as shop_db, scratch_database("postgres") as sync_db:
                        results["spike_db_latency"] = spike.run_spike_db_latency(
                            shop_db, sync_db, redis.url, size["shoppers"], size["arrival_s"],
                            size["db_latency_rounds"],
                        )  # fmt: skip
                if "admit" in chosen:
                    _fresh(redis)
                    results["admit"] = spike.run_admit_vs_bare(
                        url, redis.url, size["admit_rounds"], size["admit_requests"]
                    )
                if "growth" in chosen:
                    _fresh(redis)
                    with scratch_database("postgres") as growth_db:  # its audit sees only its own rows
                        results["growth"] = growth.run(
                            growth_db, redis.url, shoppers=size["growth_shoppers"],
                            arrival_s=size["growth_arrival_s"], units=size["growth_units"],
                            ttl_s=size["growth_ttl_s"], hold_ttl_s=size["growth_hold_ttl_s"],
                            warmup_shoppers=size["growth_warmup"],
                        )  # fmt: skip
                if "capacity" in chosen:
                    _fresh(redis)
                    with scratch_database("postgres") as capacity_db:  # its backends serve only the shop
                        results["capacity"] = capacity.run(
                            capacity_db, redis.url, (size["shoppers"], size["arrival_s"]), steady
                        )
                if args.profile:
                    from bench import profile

                    _fresh(redis)
                    results["profile"] = profile.run(url, redis.url, quick=args.quick)
        if "catalog_100k" in chosen:
            _fresh(redis)
            kinds = ("sqlite", "postgres") if has_pg else ("sqlite",)
            results["catalog_100k"] = catalog.run(kinds, redis.url, size)
    results["seconds"] = round(time.monotonic() - started, 1)
    results["targets"] = report.targets(results)
    sys.stdout.write(report.render(results))
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for path in (RESULTS_DIR / f"bench-{stamp}.json", RESULTS_DIR / "latest.json"):
        path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    say(f"wrote bench/results/bench-{stamp}.json (and latest.json) in {results['seconds']}s")
    return 0


def _fresh(redis: RedisServer) -> None:
    from redis import Redis

    client = Redis.from_url(redis.url)
    client.flushdb()
    client.close()


if __name__ == "__main__":
    sys.exit(main())
