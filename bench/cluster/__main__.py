"""``python -m bench.cluster``: the multi-host simulation, one spike per fault, and its table.

Needs root (network namespaces), nginx, redis-server and initdb; says which is missing and exits 2.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import asdict

from bench.cluster.sim import Cluster, Row, missing

# Pause after a fault is undone, so the next spike starts from a settled cluster (seconds).
SETTLE_S = 3.0


Fault = tuple[str, Callable[[str], None] | None, Callable[[], None] | None]


def faults(cluster: Cluster) -> list[Fault]:
    """Each fault: its name, how to inject it mid-spike (given the SKU), how to undo it after the checks."""
    assert cluster.redis is not None and cluster.db is not None
    redis, db = cluster.redis, cluster.db
    cut: list[str] = []

    def cut_lease_holder(sku: str) -> None:
        cut.append(cluster.lease_holder(sku))  # the host draining the lane right now
        cluster.net.cut(cut[-1])

    return [
        ("none", None, None),
        ("cut worker host", cut_lease_holder, lambda: cluster.net.mend(cut.pop())),
        ("cut web host web1", lambda _sku: cluster.net.cut("web1"), lambda: cluster.net.mend("web1")),
        ("restart postgresql", lambda _sku: None if db.restart() else None, None),
        # Last: after it the one replica is the primary, with nothing left to fail over to.
        ("kill redis primary", lambda _sku: redis.kill("primary"), None),
    ]


def print_table(rows: list[Row]) -> None:
    head = (
        "fault",
        "recovery_s",
        "shoppers",
        "answered",
        "held",
        "lost",
        "retried",
        "dupes",
        "oversell",
        "audit",
    )
    print("  ".join(f"{h:>10}" if i else f"{h:<22}" for i, h in enumerate(head)))  # noqa: T201
    for row in rows:
        values = list(asdict(row).values())
        values[-1] = "clean" if row.audit_ok else "VIOLATIONS"
        cells = [f"{v!s:<22}" if i == 0 else f"{v!s:>10}" for i, v in enumerate(values)]
        print("  ".join(cells), flush=True)  # noqa: T201


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Several hosts in network namespaces, faults mid-spike.")
    parser.add_argument("--shoppers", type=int, default=150)
    parser.add_argument("--stock", type=int, default=40)
    parser.add_argument("--only", action="append", help="run only the faults whose name contains this")
    args = parser.parse_args(argv)
    reason = missing()
    if reason:
        print(f"bench.cluster: cannot run here: {reason}", file=sys.stderr)  # noqa: T201
        return 2
    # SIGTERM (and SIGINT, even when started with it ignored) tears down like Ctrl-C does.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    cluster = Cluster()
    rows: list[Row] = []
    try:
        began = time.monotonic()
        cluster.up()
        print(f"cluster up in {time.monotonic() - began:.1f} s: {cluster.net.hosts}", flush=True)  # noqa: T201
        for name, inject, undo in faults(cluster):
            if args.only and not any(part in name for part in args.only):
                continue
            rows.append(cluster.run_spike(name, inject, args.shoppers, args.stock))
            print_table(rows[-1:])
            if undo is not None:
                undo()
            time.sleep(SETTLE_S)
    except KeyboardInterrupt:
        print("interrupted: tearing down", file=sys.stderr)  # noqa: T201
    finally:
        cluster.down()
        print("\nsummary", flush=True)  # noqa: T201
        print_table(rows)
    ok = rows and all(
        r.audit_ok and r.oversell == 0 and r.duplicates == 0 and r.answered == r.shoppers for r in rows
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
