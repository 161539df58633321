"""``python -m bench --profile``: sample the hot paths with py-spy and rank where the time goes.

* the web admit path: both gunicorn workers of the shop under back-to-back ``POST /chart``
  (limiter on, generous limits), and the bare enqueue app for comparison;
* the consumer's batch loop: take, apply, publish, on a hot SKU (PostgreSQL).

py-spy attaches to running processes (``--pid``, ``--subprocesses``) and samples their stacks;
idle threads are left out. The collapsed stacks are summed per function here and only the summary
is kept (in the results JSON).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import create_product, make_services, say
from bench.hot_sku import TimedConsumer, _admit
from bench.spike import run_load, shop_env
from bench.stack import Stack

SAMPLE_RATE = 250
# Frames worth naming: the project's code and the libraries on the hot paths.
INTERESTING = re.compile(
    r"\((shop|workers|rq|rq_scheduler|flask_limiter|limits|itsdangerous|flask|werkzeug|bench/enqueue_app)[/.]"
)


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(found).exists():
        raise RuntimeError("py-spy is not installed: make bench installs requirements-bench.txt")
    return found


class Sampler:
    """py-spy recording one process (and its children) until stopped."""

    def __init__(self, pid: int, out: Path, subprocesses: bool = False) -> None:
        command = [py_spy(), "record", "--pid", str(pid), "--rate", str(SAMPLE_RATE), "--format", "raw"]
        # --gil: only the thread holding the GIL, i.e. Python work; otherwise gunicorn's eight threads
        # per worker show up waiting on sockets and on the GIL and drown the costs that matter.
        command += ["--output", str(out), "--nonblocking", "--gil"]
        if subprocesses:
            command.append("--subprocesses")
        self.out = out
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)  # let it attach

    def stop(self) -> Path:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        return self.out


def summarise(path: Path, top: int = 25) -> dict[str, Any]:
    """Share of samples per function: inclusive (on the stack) and self (at the top)."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    if not path.exists():
        return {"samples": 0, "top": [], "self": []}
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    named = [(f, n) for f, n in inclusive.most_common() if INTERESTING.search(f)]
    return {
        "samples": total,
        "top": [{"frame": f, "share": 100 * n / total} for f, n in named[:top]],
        "self": [{"frame": f, "share": 100 * n / total} for f, n in own.most_common(top)],
    }


def _web(database_url: str, redis_url: str, app: str, path: str, requests: int, out: Path) -> dict[str, Any]:
    services = make_services(database_url, redis_url)
    try:
        sku = create_product(services, "PROFILE-1", on_hand=1_000_000, max_per_cart=1000)
        with Stack(shop_env(database_url, redis_url)) as stack:
            stack.start_web(app)
            master = stack.processes[0][1].pid
            sampler = Sampler(master, out, subprocesses=True)
            load = run_load(
                {"mode": "throughput", "port": stack.port, "method": "POST", "path": path,
                 "body": {"sku": sku, "qty": 1}, "connections": 32, "requests": requests}
            )  # fmt: skip
            sampler.stop()
    finally:
        services.close()
    return {"per_s_while_sampled": load["per_s"], **summarise(out)}


def _consumer(database_url: str, redis_url: str, n: int, out: Path) -> dict[str, Any]:
    services = make_services(database_url, redis_url)
    try:
        sku = create_product(services, "PROFILE-HOT", on_hand=n)
        _admit(services, sku, n, "prof")
        sampler = Sampler(os.getpid(), out)
        consumer = TimedConsumer(services, name="bench-profile")
        started = time.perf_counter()
        applied = consumer.run(burst=True)
        rate = applied / max(1e-9, consumer.last_applied_at - started)
        sampler.stop()
    finally:
        services.close()
    return {"per_s_while_sampled": rate, **summarise(out)}


def run(database_url: str, redis_url: str, quick: bool = False) -> dict[str, Any]:
    requests = 1_000 if quick else 6_000
    n = 2_000 if quick else 10_000
    with tempfile.TemporaryDirectory(prefix="shop-bench-profile-") as folder:
        raw = Path(folder)
        say(f"profile: POST /chart, {requests} requests, py-spy on both gunicorn workers")
        web = _web(database_url, redis_url, "wsgi:app", "/chart", requests, raw / "web-chart.txt")
        say(f"profile: bare enqueue route, {requests} requests")
        bare_app = "bench.enqueue_app:create_app()"
        bare = _web(database_url, redis_url, bare_app, "/enqueue", requests, raw / "web-bare.txt")
        say(f"profile: the consumer applying {n} holds on PostgreSQL")
        consumer = _consumer(database_url, redis_url, n, raw / "consumer.txt")
    return {"web POST /chart": web, "web bare enqueue": bare, "consumer batch": consumer}
