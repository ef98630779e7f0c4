"""A private `redis-server` that a recovery test may kill and restart (empty or with its data).

Minimal, and the same interface as `PrivateRedis` in tests/fixtures/private_servers.py (branch
`answers`): once both are merged, the recovery tests import that one and this file goes.
"""

import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis as redis_sync

from tests.redis_cluster import _free_ports


@dataclass
class PrivateRedis:
    port: int
    workdir: str
    persist: bool
    process: subprocess.Popen | None = field(default=None, repr=False)  # type: ignore[type-arg]

    @classmethod
    def start(cls, *, persist: bool = False) -> "PrivateRedis":
        """`persist`: AOF fsynced on every write (a kill -9 loses nothing); else every restart
        comes back empty, as a Redis without persistence does."""
        if shutil.which("redis-server") is None:
            raise FileNotFoundError("redis-server is not installed")
        server = cls(_free_ports(1)[0], tempfile.mkdtemp(prefix="geo-redis-recovery-"), persist)
        server._launch()
        return server

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        self._end(signal.SIGKILL)

    def restart(self, *, keep_data: bool = True) -> None:
        if self.running:
            self._end(signal.SIGTERM)
        if not keep_data:
            for entry in Path(self.workdir).iterdir():
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        self._launch()

    def remove(self) -> None:
        self._end(signal.SIGKILL)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def _launch(self) -> None:
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if self.persist else []
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             *persistence, "--dir", self.workdir],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis_sync.Redis(port=self.port, socket_timeout=5)
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    if client.ping():
                        return
                except (redis_sync.ConnectionError, redis_sync.BusyLoadingError):
                    if time.monotonic() > deadline:
                        raise
                time.sleep(0.02)
        finally:
            client.close()

    def _end(self, sig: signal.Signals) -> None:
        if not self.running:
            return
        assert self.process is not None
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
