"""A real `geo serve` process on a free loopback port, for the tests that need HTTP over a socket
(the schema fuzzer, the browser). It runs this checkout's code on its own database, built by the
migrations, and on the session's Redis DB: a fixed DB would put its in-process fan-out consumer
into the stream group of whoever else uses that DB, taking their events."""

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_REDIS_URL, recreate_database

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def geo_env(database_url: str, **settings: str) -> dict[str, str]:
    """The environment of a `geo` process of this checkout on `database_url` and the session's
    Redis DB. PYTHONPATH: this checkout's code, whatever the venv's editable install points at."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": TEST_REDIS_URL,
        "PYTHONPATH": str(ROOT),
        # A real secret, as in production (the default one would stop the start), and the
        # loopback exempt from the per-address sign-up limits, as an operator's load test is.
        "GEO_SECRET_KEY": secrets.token_urlsafe(32),
        "GEO_RATE_LIMIT_EXEMPT": "127.0.0.1,::1",
        **settings,
    }


def geo_process(env: dict[str, str], *args: str) -> subprocess.Popen:
    """Start `python -m geo ARGS` (serve, worker...) in the background."""
    return subprocess.Popen(
        [sys.executable, "-m", "geo", *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def migrate(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-m", "geo", "migrate"], env=env, check=True, capture_output=True, cwd=ROOT
    )


def wait_until_healthy(base: str, proc: subprocess.Popen) -> None:
    for _ in range(150):
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    pytest.fail("geo serve did not start: " + proc.stderr.read().decode()[-2000:])


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def geo_server(database_url: str, **settings: str) -> Iterator[str]:
    """Serve on a fresh `database_url` with extra environment `settings`; yields the base URL."""
    recreate_database(database_url)
    env = geo_env(database_url, **settings)
    migrate(env)
    port = free_port()
    proc = geo_process(env, "serve", "--port", str(port))
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base, proc)
        yield base
    finally:
        stop(proc)
