"""A private PostgreSQL cluster made with initdb, run by the postgres user inside the database host.

Private, so the simulation never writes into the machine's own PostgreSQL; fsync off, because the
run is thrown away at the end (a restart still tests that requests wait and are applied once).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import psycopg

POSTGRES_BIN = Path("/usr/local/bin")
DATABASE = "shop"
READY_TIMEOUT_S = 30.0
# A host whose cable is cut leaves its connection open on the server, perhaps inside a transaction
# holding row locks; these bound how long: keepalives notice the dead peer in about 5 s, and an
# idle transaction is ended after 5 s.
DEAD_PEER_SETTINGS = (
    "-c", "tcp_keepalives_idle=2", "-c", "tcp_keepalives_interval=1", "-c", "tcp_keepalives_count=3",
    "-c", "idle_in_transaction_session_timeout=5000",
)  # fmt: skip


def postgres_available() -> str | None:
    """Why a private cluster cannot be made here, or None."""
    if not (POSTGRES_BIN / "initdb").exists():
        return f"no initdb in {POSTGRES_BIN}"
    if shutil.which("runuser") is None:
        return "runuser is missing (PostgreSQL refuses to run as root)"
    return None


class PrivatePostgres:
    """initdb, start, restart and stop one cluster listening on ``host``:5432."""

    def __init__(self, host: str, prefix: Sequence[str]) -> None:
        self.host = host
        self.prefix = list(prefix)
        self.dir = Path(tempfile.mkdtemp(prefix="shopc-pg-"))
        self.data = self.dir / "data"
        self.process: subprocess.Popen[bytes] | None = None
        shutil.chown(self.dir, "postgres", "postgres")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@{self.host}:5432/{DATABASE}"

    def _as_postgres(self, *command: str) -> list[str]:
        return [*self.prefix, "runuser", "-u", "postgres", "--", *command]

    def init(self) -> PrivatePostgres:
        subprocess.run(
            self._as_postgres(str(POSTGRES_BIN / "initdb"), "-D", str(self.data), "-U", "postgres",
                              "--auth=trust", "-E", "UTF8", "--no-instructions"),
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        with (self.data / "pg_hba.conf").open("a") as hba:
            hba.write("host all all 10.77.0.0/24 trust\n")
        self.start()
        with psycopg.connect(f"host={self.host} user=postgres dbname=postgres", autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {DATABASE}")
        return self

    def start(self) -> None:
        self.process = subprocess.Popen(
            self._as_postgres(str(POSTGRES_BIN / "postgres"), "-D", str(self.data), "-p", "5432",
                              "-c", f"listen_addresses={self.host}",
                              "-c", f"unix_socket_directories={self.dir}",
                              "-c", "fsync=off", "-c", "max_connections=200", *DEAD_PEER_SETTINGS),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                with psycopg.connect(f"host={self.host} user=postgres dbname=postgres", connect_timeout=1):
                    return
            except psycopg.OperationalError:
                time.sleep(0.2)
        raise RuntimeError(f"PostgreSQL did not start on {self.host}")

    def _signal_postmaster(self, signum: int) -> None:
        """Signal the postmaster itself: runuser and ip netns exec in between do not pass SIGINT on."""
        pid_file = self.data / "postmaster.pid"
        if pid_file.exists():
            try:
                os.kill(int(pid_file.read_text().split()[0]), signum)
            except (ProcessLookupError, ValueError):
                pass

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self._signal_postmaster(signal.SIGINT)  # fast shutdown: open transactions rolled back
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._signal_postmaster(signal.SIGQUIT)
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self) -> float:
        """Stop fast and start again; return the seconds it was away."""
        began = time.monotonic()
        self.stop()
        self.start()
        return time.monotonic() - began

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
