"""The service refuses to start with the public default secret unless a dev/test setting allows it
(anyone could otherwise sign click ids and predict the holdout draw)."""

import os
import subprocess
import sys

import pytest

from geo.app import create_app
from geo.core.config import DEV_SECRET, InsecureSettings, Settings, check_secret
from tests.live_server import ROOT, free_port


def test_check_secret():
    with pytest.raises(InsecureSettings):
        check_secret(Settings())
    check_secret(Settings(allow_dev_secret=True))
    check_secret(Settings(secret_key="a real secret from the operator"))


async def test_app_start_is_refused_with_the_default_secret():
    app = create_app(Settings(secret_key=DEV_SECRET))
    with pytest.raises(InsecureSettings):
        async with app.router.lifespan_context(app):
            pass


def test_geo_serve_exits_with_a_reason():
    env = {
        k: v for k, v in os.environ.items() if k not in ("GEO_SECRET_KEY", "GEO_ALLOW_DEV_SECRET")
    }
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-m", "geo", "serve", "--port", str(free_port())],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "GEO_SECRET_KEY" in done.stderr
