"""The fault suite's servers: a private PostgreSQL cluster and a private Redis
(tests/fixtures/private_servers.py), and real `geo serve` / `geo worker` processes on them.

Tests here stop, kill and restart those servers; the shared ones are never touched. Starting a
PostgreSQL cluster, migrating it and starting `geo serve` and `geo worker` cost seconds each (on
a busy two-core machine, tens of seconds), so all are module-scoped: the tests of one module
share them, and a test that stops a server starts it again before it ends (`finally`). A test
that needs a Redis of its own asks `PrivateRedis.start()` directly.

    async def test_x(private_postgres, private_redis, geo_stack):
        stack = geo_stack()                      # serve + worker on both private servers
        async with stack.client() as client: ...  # httpx on the served port
        private_redis.stop(); private_redis.restart()
        stack.assert_alive()                     # no process died meanwhile
"""

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import _unavailable
from tests.fixtures.private_servers import PrivatePostgres, PrivateRedis
from tests.live_server import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def private_postgres() -> Iterator[PrivatePostgres]:
    try:
        server = PrivatePostgres.start()
    except (FileNotFoundError, subprocess.CalledProcessError) as exc:
        _unavailable(f"cannot start a private PostgreSQL: {exc}")
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture(scope="module")
def private_redis() -> Iterator[PrivateRedis]:
    """Persistent (AOF, fsync always): a restart keeps the data unless told otherwise."""
    try:
        server = PrivateRedis.start(persist=True)
    except (FileNotFoundError, RuntimeError) as exc:
        _unavailable(f"cannot start a private Redis: {exc}")
    try:
        yield server
    finally:
        server.remove()


@dataclass
class GeoStack:
    """`geo serve` (uvicorn, in-process workers off) and `geo worker` on the private servers."""

    base_url: str
    env: dict[str, str]
    logdir: str
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)  # type: ignore[type-arg]

    def client(self, timeout: float = 10.0) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, timeout=timeout)

    def log(self, name: str) -> str:
        return Path(self.logdir, f"{name}.log").read_text(errors="replace")

    def assert_alive(self) -> None:
        for name, process in self.processes.items():
            assert process.poll() is None, f"geo {name} exited:\n{self.log(name)[-3000:]}"

    def stop(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _spawn(env: dict[str, str], logdir: str, name: str, *args: str) -> subprocess.Popen:  # type: ignore[type-arg]
    # The log goes to a file, never a pipe: a pipe nobody reads fills up during an outage's
    # warnings and then blocks the server mid-request.
    with open(Path(logdir, f"{name}.log"), "wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "geo", *args],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _wait_healthy(stack: GeoStack, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stack.assert_alive()
        try:
            if httpx.get(stack.base_url + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    pytest.fail("geo serve did not become healthy:\n" + stack.log("serve")[-3000:])


@pytest.fixture(scope="module")
def geo_stack(
    private_postgres: PrivatePostgres,
    private_redis: PrivateRedis,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., GeoStack]]:
    """A factory: `geo_stack(**GEO_settings)` starts serve and worker; all stop with the module."""
    stacks: list[GeoStack] = []

    def start(**settings: str) -> GeoStack:
        env = {
            **os.environ,
            "DATABASE_URL": private_postgres.url,
            "REDIS_URL": private_redis.url,
            "PYTHONPATH": str(ROOT),
            "GEO_SECRET_KEY": secrets.token_urlsafe(32),
            "GEO_RATE_LIMIT_EXEMPT": "127.0.0.1,::1",
            # The worker runs apart, as in production, so an outage meets both kinds of process.
            "GEO_RUN_WORKERS_IN_PROCESS": "false",
            "GEO_ADS_MIN_ACCOUNT_AGE_S": "0",
            **settings,
        }
        logdir = str(tmp_path_factory.mktemp("geo-stack"))
        port = free_port()
        stack = GeoStack(f"http://127.0.0.1:{port}", env, logdir)
        stacks.append(stack)
        stack.processes["serve"] = _spawn(env, logdir, "serve", "serve", "--port", str(port))
        stack.processes["worker"] = _spawn(env, logdir, "worker", "worker")
        _wait_healthy(stack)
        return stack

    try:
        yield start
    finally:
        for stack in stacks:
            stack.stop()
