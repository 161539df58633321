"""``make run``: the whole shop in the foreground — Redis (if needed), database, web, consumers, scheduler.

Ctrl-C (or SIGTERM) stops every process this started, Redis included, and nothing is left behind.
A process that dies on its own is restarted alone, with backoff and a log line
("consumer-1 exited with -9; restarting in 1s"); its siblings keep serving, as the Procfile's
process manager does in production.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time

from config import BASE_DIR
from devtools.processes import Supervised, stop_all, supervise_once
from devtools.redis_server import RedisServer

CONSUMERS = int(os.environ.get("CONSUMERS", "2"))
WEB_WORKERS = os.environ.get("WEB_WORKERS", "2")
WEB_THREADS = os.environ.get("WEB_THREADS", "8")
# Generated products on top of the demo catalog (``shop seed --products N``): 100000 for a real shop's size.
DEMO_PRODUCTS = os.environ.get("DEMO_PRODUCTS", "0")


def say(message: str) -> None:
    print(f"[shop] {message}", flush=True)  # noqa: T201


def _flask(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "shop", *args], env=env, cwd=BASE_DIR, check=True
    )


def main() -> int:
    env = dict(os.environ)
    env.setdefault("PYTHONPATH", str(BASE_DIR))
    redis = None
    if not env.get("REDIS_URL"):
        redis = RedisServer().start()
        env["REDIS_URL"] = redis.url
        say(f"started {os.path.basename(redis.binary)} on {redis.url} (data is not kept)")
    if not env.get("SECRET_KEY"):
        env["SECRET_KEY"] = secrets.token_urlsafe(32)
        say("generated a SECRET_KEY for this run; set SECRET_KEY to keep carts across restarts")
    if not env.get("OPERATOR_PASSWORD"):
        env["OPERATOR_PASSWORD"] = secrets.token_urlsafe(12)
        say(f"operator login: {env.get('OPERATOR_USER', 'operator')} / {env['OPERATOR_PASSWORD']}")
    port = env.get("PORT", "9000")
    processes: list[Supervised] = []
    try:
        _flask(env, "init-db")
        _flask(env, "seed", "--products", DEMO_PRODUCTS)
        commands = [
            ("web", [sys.executable, "-m", "gunicorn", "wsgi:app", "--bind", f"0.0.0.0:{port}",
                     "--workers", WEB_WORKERS, "--threads", WEB_THREADS, "--worker-class", "gthread",
                     "--no-control-socket", "--graceful-timeout", "5", "--access-logfile", "-"]),
            *[(f"consumer-{i + 1}", [sys.executable, "-m", "workers.consumer"]) for i in range(CONSUMERS)],
            ("scheduler", [sys.executable, "-m", "workers.schedule"]),
        ]  # fmt: skip
        for name, command in commands:
            item = Supervised(name, command, env, str(BASE_DIR))
            processes.append(item)
            say(f"started {name} (pid {item.start().pid})")
        say(f"shop running on http://localhost:{port} — Ctrl-C stops everything")
        return _supervise(processes)
    except KeyboardInterrupt:
        return 0
    finally:
        _stop(processes)
        if redis is not None:
            redis.stop()
        say("stopped")


def _supervise(processes: list[Supervised]) -> int:
    stopping = False

    def request_stop(*_args: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    while not stopping:
        supervise_once(processes, say)
        time.sleep(0.2)
    return 0


def _stop(processes: list[Supervised]) -> None:
    stop_all(item.process for item in processes if item.process is not None)


if __name__ == "__main__":
    sys.exit(main())
