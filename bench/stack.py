"""Start and stop the processes a scenario needs, as the Procfile and devtools/run_local.py do.

Every process gets a session of its own and is stopped by its pid (its whole group, so gunicorn's
workers go with their master); nothing is started that the bench does not stop.
"""

from __future__ import annotations

import http.client
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

from bench.common import children, memory_kib
from config import BASE_DIR
from devtools.processes import stop_all
from devtools.redis_server import free_port

# The Procfile's web settings (WEB_WORKERS and WEB_THREADS at their defaults).
WEB_WORKERS = "2"
WEB_THREADS = "8"


def gunicorn_command(app: str, port: int) -> list[str]:
    return [
        sys.executable, "-m", "gunicorn", app,
        "--bind", f"127.0.0.1:{port}",
        "--workers", WEB_WORKERS, "--threads", WEB_THREADS, "--worker-class", "gthread",
        "--no-control-socket", "--graceful-timeout", "5",
    ]  # fmt: skip


class Stack:
    """A set of named processes sharing one environment."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.processes: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.port = 0
        # Every process's output goes to one log file, shown if something fails to start.
        self.log = tempfile.TemporaryFile(prefix="shop-bench-")

    def start(self, name: str, command: Sequence[str]) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            list(command),
            cwd=BASE_DIR,
            env=self.env,
            start_new_session=True,
            stdout=self.log,
            stderr=self.log,
        )
        self.processes.append((name, process))
        return process

    def log_tail(self, size: int = 4000) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-size:]

    def start_web(self, app: str = "wsgi:app") -> int:
        """Start gunicorn on a free loopback port and wait until it answers."""
        self.port = free_port()
        self.start("web", gunicorn_command(app, self.port))
        self.wait_http("/healthz" if app == "wsgi:app" else "/")
        return self.port

    def start_workers(self, consumers: int = 2, scheduler: bool = True) -> None:
        for index in range(consumers):
            self.start(f"consumer-{index + 1}", [sys.executable, "-m", "workers.consumer"])
        if scheduler:
            self.start("scheduler", [sys.executable, "-m", "workers.schedule"])

    def wait_http(self, path: str, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for name, process in self.processes:
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited with {process.returncode}:\n{self.log_tail()}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", path)
                status = conn.getresponse().status
                conn.close()
                if status < 500:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"nothing answered on port {self.port} within {timeout_s}s:\n{self.log_tail()}")

    def memory(self) -> dict[str, Any]:
        """Current and peak RSS of every process (gunicorn's workers listed under web)."""
        figures: dict[str, Any] = {}
        for name, process in self.processes:
            if process.poll() is not None:
                continue
            if name == "web":
                figures["web-master"] = memory_kib(process.pid)
                for index, pid in enumerate(sorted(children(process.pid))):
                    figures[f"web-worker-{index + 1}"] = memory_kib(pid)
            else:
                figures[name] = memory_kib(process.pid)
        return figures

    def alive(self) -> bool:
        return all(process.poll() is None for _name, process in self.processes)

    def stop(self) -> None:
        stop_all(process for _name, process in self.processes)
        self.processes.clear()
        self.log.close()

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
