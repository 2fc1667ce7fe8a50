from __future__ import annotations

import json
import subprocess
import sys


def test_airflow_loads_the_plugin_from_its_entry_point():
    out = subprocess.run(
        [sys.executable, "-m", "airflow", "plugins", "-o", "json"], capture_output=True, text=True, check=True
    )
    line = next(line for line in out.stdout.splitlines() if line.startswith("["))
    assert "messaging" in {p["name"] for p in json.loads(line)}


def test_the_webhook_app_is_mounted_only_in_the_api_server():
    code = (
        "import sys; sys.argv = ['airflow', '{argv}'];"
        "from airflow_provider_messaging.tracking.plugin import MessagingPlugin as P;"
        "print([a['url_prefix'] for a in P.fastapi_apps], 'fastapi' in sys.modules)"
    )
    api = subprocess.run(
        [sys.executable, "-c", code.format(argv="api-server")], capture_output=True, text=True, check=True
    )
    assert api.stdout.strip().startswith("['/messaging']")
    worker = subprocess.run(
        [sys.executable, "-c", code.format(argv="scheduler")], capture_output=True, text=True, check=True
    )
    assert worker.stdout.strip().startswith("[]")
