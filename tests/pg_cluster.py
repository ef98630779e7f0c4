"""Throwaway PostgreSQL clusters of the installed server, for the tests that stop, lag or replicate
one (the shared server on 5432 is never touched).

A cluster lives in a temp dir on a free loopback port, made by `initdb` (trust auth, fsync off)
and run as the `postgres` system user when the tests run as root (PostgreSQL refuses root). A
streaming replica is `pg_basebackup -R` of a primary, started on its own port.
"""

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass

import psycopg

from tests.redis_cluster import _free_ports


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise FileNotFoundError(f"{name} not found under /usr/lib/postgresql/*/bin")
    return found[-1]


def _as_server_user() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def _run(*args: str) -> None:
    subprocess.run([*_as_server_user(), *args], check=True, capture_output=True, timeout=120)


@dataclass
class LocalPostgres:
    datadir: str
    port: int
    # More `-c name=value` server options, after (so over) the defaults below.
    extra_options: str = ""

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    @classmethod
    def primary(cls) -> "LocalPostgres":
        root = tempfile.mkdtemp(prefix="geo-pg-")
        if os.geteuid() == 0:
            uid = pwd.getpwnam("postgres")
            os.chown(root, uid.pw_uid, uid.pw_gid)
        datadir = os.path.join(root, "primary")
        _run(_bin("initdb"), "-D", datadir, "-U", "postgres", "--auth=trust", "--no-sync")
        return cls(datadir, _free_ports(1)[0]).start()

    def replica(self) -> "LocalPostgres":
        """A streaming replica of this cluster, started (standby.signal and primary_conninfo)."""
        datadir = os.path.join(os.path.dirname(self.datadir), f"replica{_free_ports(1)[0]}")
        _run(
            _bin("pg_basebackup"),
            "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
            "-D", datadir, "-R", "-X", "stream", "--no-sync", "--checkpoint=fast",
        )  # fmt: skip
        return LocalPostgres(datadir, _free_ports(1)[0]).start()

    def start(self) -> "LocalPostgres":
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {os.path.dirname(self.datadir)}"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            " -c wal_level=replica -c max_wal_senders=5 -c hot_standby=on"
            " -c wal_receiver_status_interval=1"
            f" {self.extra_options}"
        )
        _run(_bin("pg_ctl"), "-D", self.datadir, "-o", options, "-w", "-l",
             self.datadir + ".log", "start")  # fmt: skip
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.admin_url, connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop(self, mode: str = "fast") -> None:
        subprocess.run(
            [*_as_server_user(), _bin("pg_ctl"), "-D", self.datadir, "-m", mode, "stop"],
            capture_output=True,
            timeout=60,
        )

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(os.path.dirname(self.datadir), ignore_errors=True)
