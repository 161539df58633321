"""``capacity``: what one shopper costs each component, the figures behind docs/scaling.md.

The Procfile's stack on PostgreSQL takes a steady load (the web tier keeps up) and the spike (it
does not). Around each load the bench reads, from the outside, what every part spent:

* CPU seconds of the gunicorn workers, the consumers and the scheduler (``/proc/<pid>/stat``), of
  the PostgreSQL backends serving the shop's database (their pids from ``pg_stat_activity``), of
  the load processes (``RUSAGE_CHILDREN``: they have exited when it is read) and of the whole
  machine (``/proc/stat``);
* Redis: calls per command (``INFO commandstats``) and the server's own CPU (``INFO cpu``);
* PostgreSQL: committed transactions of the shop's database (``pg_stat_database``).

Divided by the shoppers, they give one shopper's cost (one ``POST /chart`` and its polls); divided
by the load's wall time, how many cores each part kept busy. Nothing here is estimated.
"""

from __future__ import annotations

import os
import resource
import time
from typing import Any

from sqlalchemy import text

from bench.common import create_product, make_services, say
from bench.spike import run_load, shop_stack
from bench.stack import Stack, children
from shop.services import Services

Load = tuple[int, float]  # shoppers, arriving within seconds
WARM_UP: Load = (500, 1.0)
TICK_S = 1 / os.sysconf("SC_CLK_TCK")
# How many of the busiest Redis commands the report names (the total counts every command).
TOP_COMMANDS = 8
BACKENDS = "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
COMMITS = "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of one process so far (0 once it is gone)."""
    try:
        fields = open(f"/proc/{pid}/stat").read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) * TICK_S  # utime, stime (fields 14 and 15)


def machine_busy_s() -> float:
    """CPU seconds the whole machine spent on anything but idle and I/O wait."""
    values = [int(v) for v in open("/proc/stat").readline().split()[1:]]
    return (sum(values) - values[3] - values[4]) * TICK_S


def _stack_pids(stack: Stack) -> dict[str, list[int]]:
    parts: dict[str, list[int]] = {"web": [], "consumers": [], "scheduler": []}
    for name, process in stack.processes:
        if name == "web":
            parts["web"] += [process.pid, *children(process.pid)]
        else:
            parts["consumers" if name.startswith("consumer") else "scheduler"].append(process.pid)
    return parts


def _database(services: Services) -> tuple[list[int], int]:
    """The pids of the backends serving the shop's database, and its committed transactions."""
    with services.db.reading() as session:
        pids = [int(pid) for (pid,) in session.execute(text(BACKENDS))]
        return pids, int(session.scalar(text(COMMITS)))


def _snapshot(services: Services, stack: Stack, known_backends: set[int]) -> dict[str, Any]:
    """Every counter at one moment. Backends seen before stay counted (a pooled connection may idle)."""
    pids, commits = _database(services)
    known_backends.update(pids)
    redis = services.redis
    commands = {
        name.removeprefix("cmdstat_"): int(stat["calls"]) for name, stat in redis.info("commandstats").items()
    }
    cpu = redis.info("cpu")
    own = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "cpu_s": {part: sum(map(process_cpu_s, pids)) for part, pids in _stack_pids(stack).items()},
        "backends": {pid: process_cpu_s(pid) for pid in known_backends},
        "redis_cpu_s": float(cpu["used_cpu_sys"]) + float(cpu["used_cpu_user"]),
        "commands": commands,
        "commits": commits,
        "load_cpu_s": own.ru_utime + own.ru_stime,
        "machine_s": machine_busy_s(),
    }


def _delta(
    before: dict[str, Any], after: dict[str, Any], shoppers: int, load: dict[str, Any]
) -> dict[str, Any]:
    # Cores busy over the load itself: from its common start to the moment it returned.
    wall = load["returned_at"] - load["start_at"]
    cpu = {part: after["cpu_s"][part] - before["cpu_s"].get(part, 0.0) for part in after["cpu_s"]}
    cpu["postgres"] = sum(s - before["backends"].get(pid, 0.0) for pid, s in after["backends"].items())
    cpu["redis"] = after["redis_cpu_s"] - before["redis_cpu_s"]
    cpu["load processes"] = after["load_cpu_s"] - before["load_cpu_s"]
    machine = after["machine_s"] - before["machine_s"]
    cpu["other (OS, bench)"] = max(0.0, machine - sum(cpu.values()))
    calls = {name: n - before["commands"].get(name, 0) for name, n in after["commands"].items()}
    calls = {name: n for name, n in sorted(calls.items(), key=lambda kv: -kv[1]) if n > 0}
    requests = shoppers * (1 + load.get("polls_per_shopper", 0.0))
    return {
        "shoppers": shoppers,
        "http_requests": round(requests),
        "load_s": wall,
        "machine_cores_busy": machine / wall,
        "cpu_s": cpu,
        "cores_busy": {part: s / wall for part, s in cpu.items()},
        "per_shopper_cpu_ms": {part: 1000 * s / shoppers for part, s in cpu.items()},
        "web_cpu_ms_per_request": 1000 * cpu["web"] / max(1, requests),
        "redis_cpu_us_per_shopper": 1e6 * cpu["redis"] / shoppers,
        "redis_commands_per_shopper": sum(calls.values()) / shoppers,
        "redis_top_commands": {name: n / shoppers for name, n in list(calls.items())[:TOP_COMMANDS]},
        "db_commits_per_shopper": (after["commits"] - before["commits"]) / shoppers,
        "admitted_per_s": load.get("admitted_per_s"),
        "answer_ms": load.get("answer_ms"),
        "answered": load.get("answered"),
    }


def run(database_url: str, redis_url: str, spike: Load, steady: Load) -> dict[str, Any]:
    """A warm-up, then each load measured alone, on its own SKU of 100 units."""
    services = make_services(database_url, redis_url)
    measured: dict[str, Any] = {}
    try:
        with shop_stack(services, database_url, redis_url) as stack:
            backends: set[int] = set()
            loads: list[tuple[str, Load]] = [("warm-up", WARM_UP), ("steady", steady), ("spike", spike)]
            for name, (shoppers, arrival_s) in loads:
                sku = create_product(services, f"CAPACITY-{name.upper()}", on_hand=100, max_per_cart=1)
                say(f"capacity: {name}, {shoppers} shoppers within {arrival_s}s")
                before = _snapshot(services, stack, backends)
                load = run_load(
                    {"mode": "spike", "port": stack.port, "path": "/chart", "sku": sku,
                     "shoppers": shoppers, "arrival_s": arrival_s, "browsers": 0, "long_poll_s": 0}
                )  # fmt: skip
                load["returned_at"] = time.time()
                time.sleep(1.0)  # the last decisions and the expiries they scheduled
                after = _snapshot(services, stack, backends)
                if name != "warm-up":
                    measured[name] = _delta(before, after, shoppers, load)
    finally:
        services.close()
    return measured
