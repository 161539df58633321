"""A Redis primary, one replica and three Sentinels, each a real server process of its own.

Used by the Sentinel tests (all on loopback) and by the multi-host simulation (each server inside a
network namespace, through ``prefix``). Nothing is kept on disk beyond the run: Sentinel needs a
writable config file, so each one gets a temporary directory removed by ``stop``.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError

from config import sentinel_url
from devtools.processes import stop_all
from devtools.redis_server import free_port, server_binary

MASTER_NAME = "shop"
# Sentinel calls the primary down after this long without an answer; small, so a failover is quick.
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 5000
READY_TIMEOUT_S = 15.0


def sentinel_capable(binary: str | None = None) -> bool:
    """Whether the server binary can run as a Sentinel (redis-server and valkey-server both can)."""
    try:
        path = binary or server_binary()
    except RuntimeError:
        return False
    result = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10, check=False)
    return result.returncode == 0 and ("Redis server" in result.stdout or "Valkey server" in result.stdout)


@dataclass
class Node:
    """One server: where it listens and the process running it."""

    host: str
    port: int
    prefix: Sequence[str] = ()
    process: subprocess.Popen[bytes] | None = None

    def client(self) -> Redis:
        return Redis(host=self.host, port=self.port, socket_timeout=1, socket_connect_timeout=1)


@dataclass
class SentinelSet:
    """Primary, replica and Sentinels; ``url`` is what REDIS_URL should say."""

    primary_host: str = "127.0.0.1"
    replica_host: str = "127.0.0.1"
    sentinel_hosts: Sequence[str] = ("127.0.0.1", "127.0.0.1", "127.0.0.1")
    # Per host, a command prefix to run its servers with (e.g. ``ip netns exec redis1``).
    prefixes: dict[str, Sequence[str]] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    nodes: dict[str, Node] = field(default_factory=dict)
    _dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="shop-sentinel-")))

    @property
    def url(self) -> str:
        sentinels = ",".join(f"{n.host}:{n.port}" for name, n in self.nodes.items() if name.startswith("s"))
        return sentinel_url(sentinels, MASTER_NAME)

    def _port(self, name: str) -> int:
        return self.ports.get(name) or free_port()

    def _spawn(self, name: str, host: str, args: list[str]) -> Node:
        node = Node(host, self._port(name), tuple(self.prefixes.get(host, ())))
        folder = self._dir / name
        folder.mkdir(parents=True, exist_ok=True)
        common = ["--port", str(node.port), "--bind", host, "--protected-mode", "no", "--dir", str(folder),
                  "--logfile", str(folder / "server.log")]  # fmt: skip
        if args and args[0] == "--sentinel":
            conf = folder / "sentinel.conf"
            conf.write_text("\n".join(args[1:]) + "\n")
            command = [*node.prefix, server_binary(), str(conf), "--sentinel", *common]
        else:
            command = [*node.prefix, server_binary(), *common, "--save", "", "--appendonly", "no", *args]
        node.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        self.nodes[name] = node
        return node

    def start(self) -> SentinelSet:
        """Start the primary, its replica, then three Sentinels watching the primary (quorum 2)."""
        primary = self._spawn("primary", self.primary_host, [])
        self._wait(lambda: primary.client().ping(), "the primary")
        replica = self._spawn("replica", self.replica_host, ["--replicaof", primary.host, str(primary.port)])
        self._wait(
            lambda: replica.client().info("replication").get("master_link_status") == "up", "the replica"
        )
        for index, host in enumerate(self.sentinel_hosts, start=1):
            self._spawn(
                f"s{index}",
                host,
                [
                    "--sentinel",
                    f"sentinel monitor {MASTER_NAME} {primary.host} {primary.port} 2",
                    f"sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}",
                    f"sentinel failover-timeout {MASTER_NAME} {FAILOVER_TIMEOUT_MS}",
                    f"sentinel parallel-syncs {MASTER_NAME} 1",
                ],
            )
        # Ready once every Sentinel knows the replica and the other Sentinels: a failover needs both.
        self._wait(self._sentinels_agree, "the Sentinels")
        return self

    def _sentinels_agree(self) -> bool:
        for name, node in self.nodes.items():
            if not name.startswith("s"):
                continue
            info = node.client().sentinel_master(MASTER_NAME)
            if int(info["num-slaves"]) < 1 or int(info["num-other-sentinels"]) < 2:
                return False
        return True

    def master_address(self) -> tuple[str, int]:
        """The primary the Sentinels name now (after a failover, the promoted replica)."""
        node = self.nodes["s1"]
        host, port = node.client().sentinel_get_master_addr_by_name(MASTER_NAME)
        return host.decode() if isinstance(host, bytes) else str(host), int(port)

    def log(self, name: str) -> str:
        """What one server has logged so far (kept until ``stop``)."""
        path = self._dir / name / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def kill(self, name: str) -> None:
        """Kill one server outright (SIGKILL): what a crashed host looks like to the others."""
        node = self.nodes[name]
        if node.process is not None and node.process.poll() is None:
            node.process.kill()
            node.process.wait(timeout=10)

    def wait_for_failover(self, timeout_s: float = 30.0) -> float:
        """Wait until the Sentinels name the replica as primary; return the seconds it took."""
        started = time.monotonic()
        replica = self.nodes["replica"]
        self._wait(lambda: self.master_address() == (replica.host, replica.port), "the failover", timeout_s)
        return time.monotonic() - started

    def _wait(self, ready: object, what: str, timeout_s: float = READY_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if ready():  # type: ignore[operator]
                    return
            except (RedisError, KeyError, ValueError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{what} did not come up within {timeout_s:.0f} s")

    def stop(self) -> None:
        stop_all(node.process for node in self.nodes.values() if node.process is not None)
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> SentinelSet:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()
