"""Real Redis and PostgreSQL for the tests, each from its own folder on 127.0.0.1.

Debian's ``redis-server`` and ``postgresql`` packages (scripts/dev installs them);
PostgreSQL will not run as root, so as root it runs as the ``postgres`` user.
"""

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from .wordpress_site import _end, _wait_for, free_port

PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)), None)


def missing_reason():
    if not shutil.which("redis-server"):
        return "redis-server is not installed (scripts/dev installs it)"
    if PG_BIN is None or not (PG_BIN / "initdb").exists():
        return "PostgreSQL is not installed (scripts/dev installs it)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "no postgres user to run PostgreSQL as"
    return None


class Redis:
    def __init__(self, folder):
        self.folder = Path(folder)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None

    def start(self):
        self.folder.mkdir(parents=True, exist_ok=True)
        # Append-only file: queued jobs survive a restart, as in production.
        with open(self.folder / "redis.log", "ab") as log:
            self.process = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                 "--dir", str(self.folder), "--appendonly", "yes", "--save", "",
                 "--protected-mode", "yes"],
                stdout=log, stderr=log, start_new_session=True)
        _wait_for(self.ping, "Redis")
        return self

    def ping(self):
        return subprocess.run(["redis-cli", "-p", str(self.port), "ping"],
                              capture_output=True, text=True).stdout.strip() == "PONG"

    def stop(self):
        if self.process is not None:
            _end(self.process)
            self.process = None


class Postgres:
    def __init__(self, folder):
        # Its own folder under /tmp: pytest's folders are private to root, and the
        # postgres user must reach its data directory.
        self.folder = Path(tempfile.mkdtemp(prefix="matbaa-pg-"))
        self.port = free_port()
        self.data = self.folder / "pgdata"
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/matbaa"
        self.process = None

    def _as_owner(self):
        if os.geteuid() != 0:
            return []
        return ["runuser", "-u", "postgres", "--"]

    def start(self):
        self.folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
        subprocess.run([*self._as_owner(), str(PG_BIN / "initdb"), "-D", str(self.data),
                        "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"],
                       check=True, capture_output=True, timeout=120)
        log = open(self.folder / "postgres.log", "ab")
        with log:
            self.process = subprocess.Popen(
                [*self._as_owner(), str(PG_BIN / "postgres"), "-D", str(self.data),
                 "-p", str(self.port), "-h", "127.0.0.1", "-k", str(self.folder),
                 "-c", "fsync=off", "-c", "max_connections=50"],
                stdout=log, stderr=log, start_new_session=True)
        _wait_for(lambda: subprocess.run(
            [str(PG_BIN / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
            capture_output=True).returncode == 0, "PostgreSQL")
        subprocess.run([str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
                        "-U", "postgres", "matbaa"], check=True, capture_output=True)
        return self

    def pg_ctl(self, *args):
        subprocess.run([*self._as_owner(), str(PG_BIN / "pg_ctl"), "-D", str(self.data),
                        "-w", "-m", "fast", *args], check=True, capture_output=True, timeout=120)

    def restart(self):
        """`pg_ctl restart`: every connection dropped, the server back on the same port.
        It is then pg_ctl's child, no longer ours."""
        self.pg_ctl("-l", str(self.folder / "postgres-restarted.log"), "restart")
        _end(self.process)
        self.process = None
        self.restarted = True

    def down(self):
        """`pg_ctl stop`: refused connections until ``up()``, the data kept."""
        self.pg_ctl("stop")
        if self.process is not None:
            _end(self.process)
            self.process = None
        self.restarted = True

    def ping(self):
        return subprocess.run(
            [str(PG_BIN / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
            capture_output=True).returncode == 0

    def up(self):
        self.pg_ctl("-l", str(self.folder / "postgres-restarted.log"), "-o",
                    f"-p {self.port} -h 127.0.0.1 -k {self.folder} -c fsync=off "
                    "-c max_connections=50", "start")

    def stop(self):
        if getattr(self, "restarted", False):
            try:
                self.pg_ctl("stop")
            except subprocess.CalledProcessError:
                pass
        if self.process is not None:
            # SIGINT: PostgreSQL's fast shutdown.
            try:
                os.killpg(self.process.pid, signal.SIGINT)
                self.process.wait(timeout=30)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
            _end(self.process)
            self.process = None
        shutil.rmtree(self.folder, ignore_errors=True)


def wait_until(check, timeout=120, what="condition"):
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s")
        time.sleep(0.1)
