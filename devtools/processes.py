"""Supervising processes: restart one that dies (with backoff), and stop them all leaving nothing behind.

Used by ``make run`` and the bench. A crashed consumer must not take the shop with it: the
supervisor restarts just that process, waiting longer after each quick death so a process that
cannot start does not spin, and never stops its siblings.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

GRACE_S = 15
# Restart backoff: the first restart waits FIRST_BACKOFF_S, each quick death after it doubles the
# wait up to MAX_BACKOFF_S; a process that stayed up STABLE_S counts as healthy again.
FIRST_BACKOFF_S = 1.0
MAX_BACKOFF_S = 30.0
STABLE_S = 30.0


@dataclass
class Supervised:
    """One named process of the shop, restarted when it dies."""

    name: str
    command: Sequence[str]
    env: dict[str, str]
    cwd: str
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    backoff_s: float = FIRST_BACKOFF_S
    restart_at: float | None = None
    restarts: int = field(default=0)

    def start(self) -> subprocess.Popen[bytes]:
        # A session of its own: Ctrl-C reaches only the supervisor, which stops everything in order.
        self.process = subprocess.Popen(self.command, env=self.env, cwd=self.cwd, start_new_session=True)
        self.started_at = time.monotonic()
        self.restart_at = None
        return self.process


def supervise_once(processes: Sequence[Supervised], say: Callable[[str], None]) -> None:
    """Restart whatever died (once its backoff has passed); call it in the supervisor's loop."""
    now = time.monotonic()
    for item in processes:
        if item.restart_at is not None:
            if now >= item.restart_at:
                item.restarts += 1
                process = item.start()
                say(f"restarted {item.name} (pid {process.pid}, restart {item.restarts})")
            continue
        if item.process is None or item.process.poll() is None:
            continue
        if now - item.started_at >= STABLE_S:
            item.backoff_s = FIRST_BACKOFF_S
        delay = item.backoff_s
        say(f"{item.name} exited with {item.process.returncode}; restarting in {delay:g}s")
        item.restart_at = now + delay
        item.backoff_s = min(MAX_BACKOFF_S, item.backoff_s * 2)


def stop_all(processes: Iterable[subprocess.Popen[bytes]]) -> None:
    """Ask each process to stop, wait for all, then kill what is left of each one's process group.

    Each process must have been started with ``start_new_session=True`` so its group is its own.
    """
    processes = list(processes)
    for process in processes:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + GRACE_S
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        try:
            os.killpg(process.pid, signal.SIGKILL)  # stragglers such as orphaned gunicorn workers
        except ProcessLookupError:
            pass
