"""Stopping the processes a supervisor started, leaving nothing behind (used by make run and the bench)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterable

GRACE_S = 15


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
