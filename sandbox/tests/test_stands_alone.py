"""The sandbox is a distribution of its own: it runs without the provider it stands in for."""

from __future__ import annotations

import subprocess
import sys


def test_serving_the_sandbox_loads_nothing_of_the_provider():
    code = (
        "import sys\n"
        "from fastapi.testclient import TestClient\n"
        "from messaging_sandbox.app import create_app\n"
        "from messaging_sandbox.config import SandboxConfig\n"
        "assert TestClient(create_app(SandboxConfig())).get('/_sandbox/health').status_code == 200\n"
        "print(sorted(m for m in sys.modules if m.startswith('airflow')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"
