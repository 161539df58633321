"""What every scenario shares: throwaway Redis and databases, services, products, figures and /proc."""

from __future__ import annotations

import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from config import BASE_DIR, Config
from devtools.databases import own_postgres_database
from shop.domain.products import create_or_update_product
from shop.services import Services, build_services
from shop.storage.migrate import upgrade
from shop.web.schemas.products import product_change

# The PostgreSQL server the bench may create databases on (never writing into the one named here).
PG_SERVER_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
RESULTS_DIR = BASE_DIR / "bench" / "results"


def say(message: str) -> None:
    """Progress on stderr, so stdout keeps only the table."""
    sys.stderr.write(f"[bench {time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


def postgres_reachable(server_url: str = PG_SERVER_URL) -> bool:
    try:
        engine = create_engine(server_url)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:  # noqa: BLE001 - any failure means "skip PostgreSQL"
        return False


@contextmanager
def scratch_database(kind: str) -> Iterator[str]:
    """Create a migrated database of our own (SQLite file or PostgreSQL), and remove it afterwards."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="shop-bench-") as folder:
            url = f"sqlite:///{Path(folder) / 'bench.db'}"
            upgrade(url)
            yield url
        return
    with own_postgres_database(PG_SERVER_URL, "shop_bench") as url:
        upgrade(url)
        yield url


def bench_config(database_url: str, redis_url: str, **overrides: Any) -> Config:
    overrides.setdefault("SECRET_KEY", secrets.token_urlsafe(32))
    return Config(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        RATE_LIMIT_ENABLED=False,
        **overrides,
    )


def make_services(database_url: str, redis_url: str, **overrides: Any) -> Services:
    return build_services(bench_config(database_url, redis_url, **overrides))


def create_product(services: Services, sku: str, on_hand: int, max_per_cart: int = 1) -> str:
    """Create a sale item as an operator would, and warm the admission cache."""
    body = {"name": f"Bench {sku}", "category": "electronic", "price": 1_000_000, "on_hand": on_hand}
    body["max_per_cart"] = max_per_cart
    with services.db.writing() as session:
        create_or_update_product(session, sku, product_change(body))
    services.lanes.cache_product(sku, max_per_cart)
    return sku


def cart_id(run: str, index: int) -> str:
    """A stable 40-character cart id, as CartTokens derives them."""
    return f"{run}{index:0{40 - len(run)}d}"


def child_env(database_url: str, redis_url: str, **extra: Any) -> dict[str, str]:
    """Environment for a shop process (web, consumer, scheduler, RQ worker) of this bench run."""
    env = dict(os.environ)
    env.update(
        SHOP_ENV="development",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        PYTHONPATH=str(BASE_DIR),
        SECRET_KEY=secrets.token_urlsafe(32),
        LOG_LEVEL="WARNING",
    )
    env.update({k: str(v) for k, v in extra.items()})
    return env


# --- figures ------------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or not b:
        return None
    return a / b


# --- processes ----------------------------------------------------------------------------------


def children(pid: int) -> list[int]:
    """Direct children of a process, from /proc (gunicorn's workers under its master)."""
    found: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                found.extend(int(p) for p in handle.read().split())
    except (FileNotFoundError, ProcessLookupError):
        pass
    return found


def memory_kib(pid: int) -> dict[str, int]:
    """Current (VmRSS) and peak (VmHWM) resident set size of a process, in KiB."""
    figures: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    name, value = line.split(":", 1)
                    figures[name] = int(value.split()[0])
    except (FileNotFoundError, ProcessLookupError):
        return {}
    return {"rss_kib": figures.get("VmRSS", 0), "peak_kib": figures.get("VmHWM", 0)}


def machine() -> dict[str, Any]:
    """Describe the machine the figures come from."""
    model = ""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except FileNotFoundError:
        pass
    mem_kib = 0
    try:
        with open("/proc/meminfo") as handle:
            mem_kib = int(handle.readline().split()[1])
    except (FileNotFoundError, ValueError):
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "python": sys.version.split()[0],
        "load_avg_at_start": os.getloadavg(),
    }
