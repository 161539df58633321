"""Build the hosts, start every server on its host, run spikes through nginx with one fault each.

Hosts (network namespaces on one bridge): lb (nginx), web1/web2 (gunicorn), wk1/wk2 (a consumer and
the scheduler each), redis1 (primary), redis2 (replica), sent1..3 (Sentinels), db (PostgreSQL).
Everything is started by this process and stopped by it, and the namespaces are removed, on any exit.
"""

from __future__ import annotations

import http.client
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redis import Redis
from sqlalchemy import func, select

from bench.cluster.netns import Network, namespaces_possible, teardown
from bench.cluster.postgres import PrivatePostgres, postgres_available
from bench.cluster.sentinel import SentinelSet, sentinel_capable
from bench.cluster.shoppers import Answer, spike
from bench.common import create_product, make_services
from config import BASE_DIR
from devtools.processes import stop_all
from shop.domain.audit import audit
from shop.services import connect_redis
from shop.storage.migrate import upgrade
from shop.storage.models import Hold

WEB_PORT = 8000
LB_PORT = 80
# Short leases, so a cut worker host's lanes move within seconds (the takeover bound is this plus
# the consumers' rescue interval and one batch).
LEASE_TTL_MS = 3000
NGINX_CONF = """
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    upstream shop {{
        server {web1}:{port} max_fails=1 fail_timeout=5s;
        server {web2}:{port} max_fails=1 fail_timeout=5s;
        keepalive 32;
    }}
    server {{
        listen {lb}:{lb_port};
        location / {{
            proxy_pass http://shop;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_connect_timeout 1s;
            # Above LONG_POLL_MAX_SECONDS: a long-poll is an answer coming, not a dead host.
            proxy_read_timeout 15s;
            proxy_next_upstream error timeout http_502;
        }}
    }}
}}
"""


@dataclass
class Row:
    """One line of the table."""

    fault: str
    recovery_s: float | None
    shoppers: int
    answered: int
    held: int
    lost: int
    retried: int
    duplicates: int
    oversell: int
    audit_ok: bool


class Cluster:
    """Every host and process of one simulation."""

    def __init__(self, web_hosts: int = 2, worker_hosts: int = 2) -> None:
        self.net = Network()
        self.web_names = [f"web{i + 1}" for i in range(web_hosts)]
        self.worker_names = [f"wk{i + 1}" for i in range(worker_hosts)]
        self.processes: dict[str, list[subprocess.Popen[bytes]]] = {}
        self.dir = Path(tempfile.mkdtemp(prefix="shopc-run-"))
        self.log = (self.dir / "processes.log").open("ab")
        self.redis: SentinelSet | None = None
        self.db: PrivatePostgres | None = None
        self.env: dict[str, str] = {}

    def up(self) -> Cluster:
        self.net.up()
        for name in [
            "lb",
            *self.web_names,
            *self.worker_names,
            "redis1",
            "redis2",
            "sent1",
            "sent2",
            "sent3",
            "db",
        ]:
            self.net.add_host(name)
        hosts = self.net.hosts
        # Assigned before starting, so a teardown during the start stops what was started.
        self.db = PrivatePostgres(hosts["db"], self.net.exec_prefix("db"))
        self.db.init()
        upgrade(self.db.url)
        prefixes = {
            hosts[n]: self.net.exec_prefix(n) for n in ("redis1", "redis2", "sent1", "sent2", "sent3")
        }
        ports = {"primary": 6379, "replica": 6379, "s1": 26379, "s2": 26379, "s3": 26379}
        self.redis = SentinelSet(
            hosts["redis1"],
            hosts["redis2"],
            (hosts["sent1"], hosts["sent2"], hosts["sent3"]),
            prefixes,
            ports,
        )
        self.redis.start()
        self.env = _env(self.db.url, self.redis.url)
        for name in self.web_names:
            bind = f"{hosts[name]}:{WEB_PORT}"
            self.start(name, [sys.executable, "-m", "gunicorn", "wsgi:app", "--bind", bind,
                              "--workers", "1", "--threads", "16", "--worker-class", "gthread",
                              "--no-control-socket", "--graceful-timeout", "3"])  # fmt: skip
        for name in self.worker_names:
            self.start(name, [sys.executable, "-m", "workers.consumer"])
            self.start(name, [sys.executable, "-m", "workers.schedule"])
        conf = self.dir / "nginx.conf"
        conf.write_text(NGINX_CONF.format(dir=self.dir, web1=hosts[self.web_names[0]],
                                          web2=hosts[self.web_names[-1]], port=WEB_PORT,
                                          lb=hosts["lb"], lb_port=LB_PORT))  # fmt: skip
        self.start("lb", ["nginx", "-c", str(conf), "-g", "daemon off;"])
        self._wait_http(hosts["lb"], LB_PORT)
        return self

    def start(self, host: str, command: list[str]) -> None:
        env = {**self.env, "HOST_ID": host}
        process = subprocess.Popen(
            [*self.net.exec_prefix(host), *command], cwd=BASE_DIR, env=env, start_new_session=True,
            stdout=self.log, stderr=self.log,
        )  # fmt: skip
        self.processes.setdefault(host, []).append(process)

    def _wait_http(self, host: str, port: int, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            conn = http.client.HTTPConnection(host, port, timeout=2)
            try:
                conn.request("GET", "/readyz")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                pass
            finally:
                conn.close()
            time.sleep(0.3)
        raise RuntimeError(f"the load balancer did not answer within {timeout_s:.0f} s (see {self.log.name})")

    def run_spike(
        self,
        fault: str,
        inject: Callable[[str], None] | None,
        shoppers: int,
        stock: int,
        timeout_s: float = 60,
        fault_after_s: float = 1.0,
    ) -> Row:
        """One spike on a fresh SKU, the fault injected ``fault_after_s`` in; then the checks."""
        assert self.db is not None and self.redis is not None
        services = make_services(self.db.url, self.redis.url)
        sku = f"CLUSTER-{fault.upper().replace(' ', '-')}"[:40]
        try:
            create_product(services, sku, stock)
            result: dict[str, Any] = {}
            thread = threading.Thread(
                target=lambda: result.update(
                    zip(
                        ("answers", "began"),
                        spike(self.net.hosts["lb"], LB_PORT, sku, shoppers, timeout_s),
                        strict=True,
                    )
                ),
                daemon=True,
            )
            thread.start()
            time.sleep(fault_after_s)
            fault_at = time.monotonic()
            if inject is not None:
                inject(sku)
            thread.join(timeout_s + 15)
            answers: list[Answer] = result.get("answers", [])
            with services.db.reading() as session:
                held = (
                    session.scalar(select(func.coalesce(func.sum(Hold.qty), 0)).where(Hold.sku == sku)) or 0
                )
                per_cart = session.execute(
                    select(Hold.cart_id, func.count()).where(Hold.sku == sku).group_by(Hold.cart_id)
                ).all()
            with services.db.writing() as session:
                report = audit(session)
            answered = [a for a in answers if a.outcome]
            late = [a.decided_at - fault_at for a in answered if a.decided_at and a.decided_at > fault_at]
            return Row(
                fault=fault,
                recovery_s=round(max(late), 2) if late else None,
                shoppers=shoppers,
                answered=len(answered),
                held=int(held),
                lost=sum(a.lost for a in answers),
                retried=sum(1 for a in answers if a.retries),
                duplicates=sum(count - 1 for _cart, count in per_cart if count > 1),
                oversell=max(0, int(held) - stock),
                audit_ok=report.ok,
            )
        finally:
            services.close()

    def lease_holder(self, sku: str) -> str:
        """The worker host whose consumer holds the SKU's lane now (the first one if none does)."""
        assert self.redis is not None
        owner = self.redis_client().get(f"shop:lane:sku:{sku}:lease")
        name = owner.decode() if owner else ""
        return next(
            (host for host in self.worker_names if name.startswith(f"shop-{host}-")), self.worker_names[0]
        )

    def redis_client(self) -> Redis:
        assert self.redis is not None
        return connect_redis(self.redis.url)

    def down(self) -> None:
        """Stop every process, remove the database's files and every namespace, veth and the bridge."""
        stop_all(p for group in self.processes.values() for p in group)
        if self.redis is not None:
            self.redis.stop()
        if self.db is not None:
            self.db.remove()
        teardown()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def missing() -> str | None:
    """Why the simulation cannot run on this machine, or None."""
    if shutil.which("nginx") is None:
        return "nginx is missing (as root, make test and make cluster install it)"
    if not sentinel_capable():
        return "no Sentinel-capable redis-server"
    return namespaces_possible() or postgres_available()


def _env(database_url: str, redis_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        SHOP_ENV="development", DATABASE_URL=database_url, REDIS_URL=redis_url, PYTHONPATH=str(BASE_DIR),
        SECRET_KEY=secrets.token_urlsafe(32), LOG_LEVEL="WARNING", LEASE_TTL_MS=str(LEASE_TTL_MS),
        RATE_LIMIT_ENABLED="0", TRUSTED_PROXY_COUNT="1", OPERATOR_AREA="disabled",
    )  # fmt: skip
    return env
