"""make run's supervisor restarts a process that dies, alone and with backoff; the shop keeps answering."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from config import BASE_DIR
from devtools.processes import FIRST_BACKOFF_S, Supervised, supervise_once
from devtools.redis_server import free_port
from tests.helpers import wait_until


def _http(method: str, url: str, body: dict | None = None, headers: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, dict(response.headers), json.loads(response.read() or b"null")


@pytest.fixture
def shop(tmp_path: Path):
    """``python -m devtools.run_local`` with its own Redis, one consumer and one web worker."""
    port = free_port()
    log_path = tmp_path / "run.log"
    env = dict(os.environ)
    env.pop("REDIS_URL", None)
    env.update(
        PYTHONPATH=str(BASE_DIR),
        PORT=str(port),
        CONSUMERS="1",
        WEB_WORKERS="1",
        WEB_THREADS="4",
        DATABASE_URL=f"sqlite:///{tmp_path / 'shop.db'}",
    )
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "devtools.run_local"],
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process, f"http://127.0.0.1:{port}", log_path
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _healthy(base: str) -> bool:
    try:
        return _http("GET", f"{base}/healthz")[0] == 200
    except OSError:
        return False


def _held(base: str) -> bool:
    """Put a hold in line and wait for a consumer to answer it."""
    status, headers, body = _http("POST", f"{base}/chart", {"sku": "FLASH-PHONE-01", "qty": 1})
    assert status == 202
    token = {"X-Cart-Token": headers["X-Cart-Token"]}
    job = wait_until(lambda: _finished(base, body["job_id"], token), timeout_s=30)
    return bool(job) and job["result"]["outcome"] == "held"


def _finished(base: str, job_id: str, headers: dict) -> dict | None:
    job = _http("GET", f"{base}/jobs/{job_id}", headers=headers)[2]
    return job if job["status"] == "finished" else None


def test_a_killed_consumer_is_restarted_and_the_shop_keeps_answering(shop):
    process, base, log_path = shop
    assert wait_until(lambda: _healthy(base), timeout_s=90), log_path.read_text()
    assert _held(base)
    text = log_path.read_text()
    first = int(re.search(r"started consumer-1 \(pid (\d+)\)", text).group(1))
    os.kill(first, signal.SIGKILL)
    restarted = wait_until(lambda: re.search(r"restarted consumer-1 \(pid (\d+)", log_path.read_text()), 30)
    assert restarted, log_path.read_text()
    text = log_path.read_text()
    assert "consumer-1 exited with -9; restarting in 1s" in text
    assert "stopping the rest" not in text
    assert int(restarted.group(1)) != first
    # The restarted consumer (the only one) answers; the web tier never stopped.
    assert _held(base)
    assert process.poll() is None


def test_a_process_that_keeps_dying_is_restarted_with_growing_waits():
    said: list[str] = []
    command = [sys.executable, "-c", "raise SystemExit(3)"]
    item = Supervised("crasher", command, dict(os.environ), str(BASE_DIR))
    item.start()
    for _ in range(3):
        assert wait_until(lambda: item.process.poll() is not None, timeout_s=10)
        supervise_once([item], said.append)
        assert item.restart_at is not None
        item.restart_at = time.monotonic()  # don't wait out the backoff in a test
        supervise_once([item], said.append)
    waits = [line for line in said if "exited" in line]
    assert waits == [
        f"crasher exited with 3; restarting in {FIRST_BACKOFF_S:g}s",
        f"crasher exited with 3; restarting in {FIRST_BACKOFF_S * 2:g}s",
        f"crasher exited with 3; restarting in {FIRST_BACKOFF_S * 4:g}s",
    ]
    assert item.restarts == 3
    item.process.wait(timeout=10)
