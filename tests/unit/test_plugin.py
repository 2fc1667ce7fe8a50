from __future__ import annotations

import json
import subprocess
import sys

from fastapi import FastAPI
from fastapi.testclient import TestClient


def test_airflow_loads_the_plugin_from_its_entry_point():
    out = subprocess.run(
        [sys.executable, "-m", "airflow", "plugins", "-o", "json"], capture_output=True, text=True, check=True
    )
    line = next(line for line in out.stdout.splitlines() if line.startswith("["))
    assert "messaging" in {p["name"] for p in json.loads(line)}


def test_loading_the_plugin_builds_nothing_until_a_request_comes():
    """Every Airflow component imports plugins; only the API server sends requests to the receiver."""
    code = (
        "import sys;"
        "from airflow_provider_messaging.webhooks.plugin import MessagingPlugin as P;"
        "print([a['url_prefix'] for a in P.fastapi_apps],"
        " 'airflow_provider_messaging.webhooks.receiver' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "['/messaging'] False"


def test_the_mounted_receiver_answers_and_shows_no_api_docs():
    from airflow_provider_messaging.webhooks.plugin import URL_PREFIX, MessagingPlugin

    parent = FastAPI()  # mounted the way airflow api-server mounts plugin apps
    (app,) = MessagingPlugin.fastapi_apps
    parent.mount(URL_PREFIX, app["app"])
    client = TestClient(parent)
    assert client.get("/messaging/health").json() == {"status": "ok"}
    assert client.get("/messaging/docs").status_code == 404
    assert client.get("/messaging/openapi.json").status_code == 404
