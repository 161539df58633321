"""Run the real app under gunicorn (several workers) on a free loopback port, for multi-process tests."""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from config import BASE_DIR
from devtools.redis_server import free_port

STARTUP_TIMEOUT_S = 30.0
# The access log names the worker (process id) that served each request.
ACCESS_LOG_FORMAT = 'pid=%(p)s "%(r)s" %(s)s'
ACCESS_PID = re.compile(r"^pid=<(\d+)> (.*)$", re.MULTILINE)
BOOTED_PID = re.compile(r"Booting worker with pid: (\d+)")


@dataclass
class Gunicorn:
    host: str
    log_path: Path
    process: subprocess.Popen[bytes]

    def log(self) -> str:
        """Everything gunicorn, its workers and the app wrote to stdout and stderr so far."""
        return self.log_path.read_text(errors="replace")

    def access_pids(self, marker: str) -> list[int]:
        """The worker process ids of the access-log lines whose request line contains ``marker``."""
        return [int(match[1]) for match in ACCESS_PID.finditer(self.log()) if marker in match[2]]

    def wait_for_access(self, marker: str, count: int = 1, timeout: float = 10.0) -> list[int]:
        """Wait until ``count`` requests containing ``marker`` are in the access log (a worker writes
        the line just after sending the answer); return their worker process ids."""
        deadline = time.monotonic() + timeout
        while len(pids := self.access_pids(marker)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{count} access lines with {marker!r} never appeared:\n{self.log()}")
            time.sleep(0.02)
        return pids

    def workers(self) -> list[int]:
        """The process ids of the workers gunicorn booted."""
        return [int(pid) for pid in BOOTED_PID.findall(self.log())]

    def other_worker(self, pid: int) -> int:
        """The one worker that is not ``pid`` (with two workers)."""
        (other,) = set(self.workers()) - {pid}
        return other


@contextmanager
def gunicorn(
    env: dict[str, str], workers: int = 2, threads: int = 4, access_log_format: str = ACCESS_LOG_FORMAT
) -> Iterator[Gunicorn]:
    """Start ``gunicorn wsgi:app`` with the given environment; stop it (and its workers) afterwards."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="shop-gunicorn-") as folder:
        log_path = Path(folder) / "gunicorn.log"
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "wsgi:app",
                    "--workers",
                    str(workers),
                    "--worker-class",
                    "gthread",
                    "--threads",
                    str(threads),
                    "--no-control-socket",
                    "--bind",
                    f"127.0.0.1:{port}",
                    "--access-logfile",
                    "-",
                    "--access-logformat",
                    ACCESS_LOG_FORMAT,
                ],  # fmt: skip
                cwd=BASE_DIR,
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so nothing outlives the test
            )
        server = Gunicorn(f"127.0.0.1:{port}", log_path, process)
        try:
            _wait_until_serving(server, workers)
            yield server
        finally:
            _stop(process)


def _wait_until_serving(server: Gunicorn, workers: int) -> None:
    """Wait until the port answers and every worker has booted."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.process.returncode}:\n{server.log()}")
        if len(server.workers()) >= workers and _answers(server.host):
            return
        time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not start in {STARTUP_TIMEOUT_S} s:\n{server.log()}")


def _answers(host: str) -> bool:
    conn = http.client.HTTPConnection(host, timeout=2)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)  # graceful: the arbiter stops its workers
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    try:
        os.killpg(process.pid, signal.SIGKILL)  # any worker left behind in its group
    except ProcessLookupError:
        pass
