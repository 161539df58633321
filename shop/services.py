"""The long-lived collaborators of one process: database, Redis, lanes and the payment gateway.

The web app, the consumers, the scheduler and the CLI each build one ``Services`` from a config,
so the domain code never reaches for globals.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from redis import Redis

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


def connect_redis(url: str) -> Redis:
    """Open a Redis client that fails fast instead of hanging when Redis is down."""
    return Redis.from_url(
        url,
        socket_timeout=REDIS_SOCKET_TIMEOUT_S,
        socket_connect_timeout=REDIS_SOCKET_TIMEOUT_S,
        health_check_interval=30,
    )


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
