"""``make bench``: run every scenario, print one table, write the figures to bench/results/.

    python -m bench                      # everything (a few minutes on 2 cores)
    python -m bench --only hot_sku       # one or more of: hot_sku, spike, baseline_sync, admit,
                                         # catalog_100k
    python -m bench --quick              # small sizes, to check the bench itself works
    python -m bench --profile            # also sample the hot paths with py-spy (see bench/profile.py)

Needs PostgreSQL for everything but the SQLite halves of hot_sku and catalog_100k (BENCH_POSTGRES_URL,
default postgresql+psycopg://postgres@127.0.0.1:5432/postgres); the bench creates databases of its own
there and drops them afterwards, and starts its own Redis on a free port.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from bench import catalog, hot_sku, report, spike
from bench.common import RESULTS_DIR, machine, postgres_reachable, say, scratch_database
from devtools.redis_server import RedisServer

SIZES = {
    "full": {"n": 20_000, "sw_n": 1_000, "raw_n": 5_000, "rounds": 3, "shoppers": 5_000, "arrival_s": 2.0,
             "steady_shoppers": 2_000, "steady_arrival_s": 10.0, "admit_rounds": 3, "admit_requests": 3_000,
             "catalog_products": 100_000, "catalog_reps": 100, "catalog_min_reps": 100,
             "catalog_budget_s": 2.0, "catalog_rounds": 3, "catalog_load_s": 3.0, "catalog_page_reps": 10},
    "quick": {"n": 2_000, "sw_n": 200, "raw_n": 1_000, "rounds": 1, "shoppers": 500, "arrival_s": 1.0,
              "steady_shoppers": 200, "steady_arrival_s": 2.0, "admit_rounds": 1, "admit_requests": 500,
              "catalog_products": 10_000, "catalog_reps": 3, "catalog_min_reps": 1, "catalog_budget_s": 0.1,
              "catalog_rounds": 1, "catalog_load_s": 1.0, "catalog_page_reps": 2},
}  # fmt: skip
SCENARIOS = ("hot_sku", "spike", "baseline_sync", "admit", "catalog_100k")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The flash-sale benchmark suite.")
    parser.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated scenarios")
    parser.add_argument("--quick", action="store_true", help="small sizes (checks the bench, not the shop)")
    parser.add_argument("--profile", action="store_true", help="also profile the hot paths with py-spy")
    parser.add_argument("--batch-size", type=int, default=200, help="the consumer's BATCH_SIZE")
    args = parser.parse_args(argv)
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(chosen) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    size = SIZES["quick" if args.quick else "full"]
    has_pg = postgres_reachable()
    if not has_pg:
        say("PostgreSQL is not reachable: running hot_sku and catalog_100k on SQLite only, skipping the rest")
    results: dict[str, Any] = {
        "machine": machine(),
        "sizes": size,
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
        if has_pg and {"spike", "baseline_sync", "admit"} & set(chosen):
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
                if "admit" in chosen:
                    _fresh(redis)
                    results["admit"] = spike.run_admit_vs_bare(
                        url, redis.url, size["admit_rounds"], size["admit_requests"]
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
