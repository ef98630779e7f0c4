"""Fuzz the served OpenAPI document with schemathesis against a real `geo serve` process.

Checks: no 5xx, status codes and content types the document declares, bodies matching its schemas.
Runs on its own database (the fuzzer commits what it creates) and is bounded by --max-examples.
"""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_DB_URL, TEST_REDIS_URL, recreate_database

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance," \
         "response_schema_conformance"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def live_server(migrated_database):  # type: ignore[no-untyped-def]
    url = TEST_DB_URL + "_fuzz"
    recreate_database(url)
    # The session's own Redis DB: tests run one at a time and the server is gone after this
    # module. A fixed DB would put this server's in-process fan-out consumer into the stream
    # group of whoever else uses that DB (another checkout's tests), taking their events.
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": TEST_REDIS_URL}
    subprocess.run([BIN / "geo", "migrate"], env=env, check=True, capture_output=True)
    port = _free_port()
    proc = subprocess.Popen([BIN / "geo", "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("geo serve did not start: " + proc.stderr.read().decode()[-2000:])
    yield base
    proc.terminate()
    proc.wait(timeout=10)


def test_openapi_fuzz_finds_no_server_errors(live_server):
    token = httpx.post(live_server + "/v1/accounts", json={
        "handle": "fuzzer", "password": "fuzzing-pass", "kind": "business"}).json()["token"]
    result = subprocess.run(
        [BIN / "st", "run", live_server + "/openapi.json", "--checks", CHECKS,
         "--max-examples", os.environ.get("GEO_FUZZ_EXAMPLES", "25"), "--seed", "1",
         "--generation-deterministic", "-H", f"Authorization: Bearer {token}",
         "--request-timeout", "10", "--no-color",
         # An event stream never ends by design; it has its own tests.
         "--exclude-path", "/v1/timelines/home/stream"],
        capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "passed" in result.stdout.lower(), result.stdout[-3000:]
    print(result.stdout[-1500:])
