"""``make run``: the whole shop in the foreground — Redis (if needed), database, web, consumers, scheduler.

Ctrl-C (or SIGTERM) stops every process this started, Redis included, and nothing is left behind.
If any process dies on its own, the rest are stopped too, so a half-running shop is never mistaken
for a working one.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time

from config import BASE_DIR
from devtools.processes import stop_all
from devtools.redis_server import RedisServer

CONSUMERS = int(os.environ.get("CONSUMERS", "2"))
WEB_WORKERS = os.environ.get("WEB_WORKERS", "2")
WEB_THREADS = os.environ.get("WEB_THREADS", "8")


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
    processes: list[tuple[str, subprocess.Popen[bytes]]] = []
    try:
        _flask(env, "init-db")
        _flask(env, "seed")
        commands = [
            ("web", [sys.executable, "-m", "gunicorn", "wsgi:app", "--bind", f"0.0.0.0:{port}",
                     "--workers", WEB_WORKERS, "--threads", WEB_THREADS, "--worker-class", "gthread",
                     "--no-control-socket", "--graceful-timeout", "5", "--access-logfile", "-"]),
            *[(f"consumer-{i + 1}", [sys.executable, "-m", "workers.consumer"]) for i in range(CONSUMERS)],
            ("scheduler", [sys.executable, "-m", "workers.schedule"]),
        ]  # fmt: skip
        for name, command in commands:
            # A session of its own: Ctrl-C reaches only this supervisor, which then stops
            # everything in order (web first, Redis last), so no process loses Redis mid-batch.
            processes.append((name, subprocess.Popen(command, env=env, cwd=BASE_DIR, start_new_session=True)))
        say(f"shop running on http://localhost:{port} — Ctrl-C stops everything")
        return _supervise(processes)
    except KeyboardInterrupt:
        return 0
    finally:
        _stop(processes)
        if redis is not None:
            redis.stop()
        say("stopped")


def _supervise(processes: list[tuple[str, subprocess.Popen[bytes]]]) -> int:
    stopping = False

    def request_stop(*_args: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    while not stopping:
        for name, process in processes:
            if process.poll() is not None:
                say(f"{name} exited with {process.returncode}; stopping the rest")
                return 1
        time.sleep(0.5)
    return 0


def _stop(processes: list[tuple[str, subprocess.Popen[bytes]]]) -> None:
    stop_all(process for _name, process in processes)


if __name__ == "__main__":
    sys.exit(main())
