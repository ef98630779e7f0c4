"""Fuzz the served OpenAPI document with schemathesis against a real `geo serve` process.

Checks: no 5xx, status codes and content types the document declares, bodies matching its schemas.
Runs on its own database (the fuzzer commits what it creates) and is bounded by --max-examples.
"""

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_DB_URL
from tests.live_server import geo_server

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_schema_conformance"
)


@pytest.fixture(scope="module")
def live_server(migrated_database):  # type: ignore[no-untyped-def]
    with geo_server(TEST_DB_URL + "_fuzz") as base:
        yield base


def test_openapi_fuzz_finds_no_server_errors(live_server):
    token = httpx.post(
        live_server + "/v1/accounts",
        json={"handle": "fuzzer", "password": "fuzzing-pass", "kind": "business"},
    ).json()["token"]
    result = subprocess.run(
        [
            BIN / "st",
            "run",
            live_server + "/openapi.json",
            "--checks",
            CHECKS,
            "--max-examples",
            os.environ.get("GEO_FUZZ_EXAMPLES", "25"),
            "--seed",
            "1",
            "--generation-deterministic",
            "-H",
            f"Authorization: Bearer {token}",
            "--request-timeout",
            "10",
            "--no-color",
            # An event stream never ends by design; it has its own tests.
            "--exclude-path",
            "/v1/timelines/home/stream",
            # Signing the fuzzer's own token out would leave every later operation a 401 (both
            # have their own tests, tests/accounts/test_tokens.py).
            "--exclude-operation-id",
            "revoke_token_v1_auth_token_delete",
            "--exclude-operation-id",
            "revoke_all_tokens_v1_auth_tokens_delete",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "passed" in result.stdout.lower(), result.stdout[-3000:]
    print(result.stdout[-1500:])
