"""The SignalWire token and signing key and the WhatsApp token and app secret never reach a real task log.

The DAG runs through the LocalExecutor and the task supervisor, as on a worker, so the log files
checked are the ones the Airflow UI would show.
"""

from __future__ import annotations

import json
import pathlib

import pytest

from tests.dag.airflow_processes import (
    DAG_TEST,
    airflow_env,
    api_server,
    free_port,
    migrate,
    run_in_own_group,
)

REPO = pathlib.Path(__file__).resolve().parents[2]
TOKEN = "PT-token-that-must-not-leak-31337"
SIGNING_KEY = "PSK-signing-key-that-must-not-leak-4242"
WA_TOKEN = "EAAG-whatsapp-token-that-must-not-leak-77"
APP_SECRET = "app-secret-that-must-not-leak-88"

pytestmark = pytest.mark.dag


@pytest.fixture
def sandbox():
    from messaging_sandbox.config import SandboxConfig
    from messaging_sandbox.server import SandboxServer

    config = SandboxConfig(
        port=0, signalwire_token=TOKEN, signing_key=SIGNING_KEY, sent_delay=0.05, delivered_delay=0.05
    )
    with SandboxServer(config) as server:
        yield server


def test_token_and_signing_key_are_masked_in_task_logs(tmp_path, sandbox):
    conn = {
        "conn_type": "signalwire",
        "host": "sandbox",
        "login": "sandbox-project",
        "password": TOKEN,
        "extra": {"base_url": sandbox.url, "from_number": "+15551230001", "signing_secret": SIGNING_KEY},
    }
    port = free_port()
    env = airflow_env(
        tmp_path / "home",
        REPO / "tests" / "dags",
        AIRFLOW_CONN_SIGNALWIRE_DEFAULT=json.dumps(conn),
        AIRFLOW_CONN_WHATSAPP_DEFAULT=json.dumps(
            {
                "conn_type": "whatsapp",
                "password": WA_TOKEN,
                "extra": {"phone_number_id": "1065", "app_secret": APP_SECRET},
            }
        ),
        AIRFLOW__CORE__EXECUTOR="LocalExecutor",
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{port}/execution/",
    )
    migrate(env)
    with api_server(env, port):
        stdout, stderr = run_in_own_group(
            [*DAG_TEST, "tests/dags/secrets_probe.py"],
            env, REPO, timeout=300,
        )  # fmt: skip
    assert "STATE success" in stdout, stdout[-3000:] + stderr[-3000:]

    logs = list((tmp_path / "home" / "logs").rglob("*.log"))
    assert {p.parent.name for p in logs} >= {"task_id=send_sms", "task_id=careless_logging"}
    text = "\n".join(p.read_text() for p in logs)
    assert TOKEN not in text
    assert SIGNING_KEY not in text
    assert WA_TOKEN not in text and APP_SECRET not in text
    assert "phone=1065 wa_token=*** app_secret=***" in text
    assert "token=*** signing_key=***" in text
    assert "project=sandbox-project" in text  # ordinary values are left alone
    assert "Sent to +15550001001" in text
