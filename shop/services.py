"""The long-lived collaborators of one process: database, Redis, lanes and the payment gateway.

The web app, the consumers, the scheduler and the CLI each build one ``Services`` from a config,
so the domain code never reaches for globals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from redis import Redis
from redis.sentinel import Sentinel

from config import Config
from shop.domain.gateway import PaymentGateway, SimulatedGateway
from shop.lanes.client import Lanes
from shop.lanes.decisions import DecisionWaiter
from shop.storage.db import Database

REDIS_SOCKET_TIMEOUT_S = 5


@dataclass
class Services:
    config: Config
    db: Database
    redis: Redis
    lanes: Lanes
    gateway: PaymentGateway = field(default_factory=SimulatedGateway)
    # Requests long-polling for their decision (web processes only; idle until the first one).
    decisions: DecisionWaiter | None = None

    def close(self) -> None:
        if self.decisions is not None:
            self.decisions.close()
        self.db.dispose()
        self.redis.close()


SENTINEL_SCHEME = "redis+sentinel"
REDIS_CLIENT_OPTIONS: dict[str, Any] = {
    "socket_timeout": REDIS_SOCKET_TIMEOUT_S,
    "socket_connect_timeout": REDIS_SOCKET_TIMEOUT_S,
    "health_check_interval": 30,
}


@dataclass(frozen=True)
class SentinelTarget:
    """Where a Sentinel URL says the primary is: the Sentinels, the master's name, the db."""

    sentinels: list[tuple[str, int]]
    master: str
    db: int
    password: str | None = None

    @property
    def limiter_uri(self) -> str:
        """The URI Flask-Limiter's storage takes (limits reads the path as the master's name only)."""
        hosts = ",".join(f"{host}:{port}" for host, port in self.sentinels)
        auth = f":{self.password}@" if self.password else ""
        return f"{SENTINEL_SCHEME}://{auth}{hosts}/{self.master}"


def parse_sentinel_url(url: str) -> SentinelTarget | None:
    """Read a ``redis+sentinel://h:p,h:p/master[/db]`` URL; None for a plain redis:// URL."""
    parts = urlsplit(url)
    if parts.scheme != SENTINEL_SCHEME:
        return None
    netloc = parts.netloc
    password = None
    if "@" in netloc:
        auth, netloc = netloc.rsplit("@", 1)
        password = unquote(auth.split(":", 1)[1]) if ":" in auth else None
    sentinels = []
    for item in netloc.split(","):
        host, _, port = item.strip().rpartition(":")
        sentinels.append((host, int(port)) if host else (port, 26379))
    path = [segment for segment in parts.path.split("/") if segment]
    if not sentinels or not path:
        raise RuntimeError(f"A Sentinel URL needs hosts and a master name: {url!r}")
    return SentinelTarget(sentinels, path[0], int(path[1]) if len(path) > 1 else 0, password)


def connect_redis(url: str) -> Redis:
    """Open a Redis client that fails fast instead of hanging when Redis is down.

    Through Sentinel the client asks the Sentinels for the primary on every new connection, so after
    a failover each process reconnects to the promoted replica by itself, with no restart.
    """
    target = parse_sentinel_url(url)
    if target is None:
        return Redis.from_url(url, **REDIS_CLIENT_OPTIONS)
    timeouts = {"socket_timeout": REDIS_SOCKET_TIMEOUT_S, "socket_connect_timeout": REDIS_SOCKET_TIMEOUT_S}
    sentinel = Sentinel(target.sentinels, sentinel_kwargs=timeouts, password=target.password, **timeouts)
    return sentinel.master_for(
        target.master, redis_class=Redis, db=target.db, health_check_interval=30, **timeouts
    )


def limiter_storage(url: str) -> tuple[str, dict[str, Any]]:
    """Flask-Limiter's storage URI and options for the shop's Redis, direct or through Sentinel."""
    target = parse_sentinel_url(url)
    if target is None:
        return url, {}
    timeouts = {"socket_timeout": REDIS_SOCKET_TIMEOUT_S, "socket_connect_timeout": REDIS_SOCKET_TIMEOUT_S}
    return target.limiter_uri, {"db": target.db, "sentinel_kwargs": timeouts, **timeouts}


def build_services(config: Config) -> Services:
    redis = connect_redis(config.REDIS_URL)
    return Services(
        config=config,
        db=Database(config.DATABASE_URL, busy_timeout_ms=config.SQLITE_BUSY_TIMEOUT_MS),
        redis=redis,
        lanes=Lanes(redis, result_ttl=config.RESULT_TTL_SECONDS, hot_lanes=config.HOT_LANES),
        # The simulated processor keeps its records in Redis, outside any one shop process.
        gateway=SimulatedGateway(redis, pause_file=config.GATEWAY_PAUSE_FILE),
        decisions=DecisionWaiter(redis, slots=config.LONG_POLL_SLOTS),
    )
