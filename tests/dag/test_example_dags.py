"""Run the example DAGs for real (``dag.test()`` on SQLite) against the sandbox."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import httpx
import pytest

pytestmark = pytest.mark.dag


@pytest.fixture(scope="module")
def airflow_db():
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)


@pytest.fixture
def signalwire_conn(sandbox, monkeypatch):
    conn = {
        "conn_type": "signalwire",
        "host": "sandbox",
        "login": sandbox.config.signalwire_project,
        "password": sandbox.config.signalwire_token,
        "extra": {"base_url": sandbox.url, "from_number": "+15551230001"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_SIGNALWIRE_DEFAULT", json.dumps(conn))
    httpx.post(f"{sandbox.url}/_sandbox/reset").raise_for_status()
    return sandbox


def gate_dag():
    return importlib.import_module("example_dags.signalwire_delivery_gate").dag


def states(dag_run):
    return {ti.task_id: ti.state for ti in dag_run.get_task_instances()}


def sandbox_messages(sandbox):
    return httpx.get(f"{sandbox.url}/_sandbox/messages").json()["messages"]


def test_delivered_sms_releases_the_gate(airflow_db, signalwire_conn):
    run = gate_dag().test(run_conf={"to": "+15550001001"})
    assert run.state == "success"
    assert states(run) == {
        "send_sms": "success",
        "wait_for_delivery": "success",
        "publish_report": "success",
        "alert_on_call": "skipped",
    }
    (message,) = sandbox_messages(signalwire_conn)
    assert message["to"] == "+15550001001" and message["status"] == "delivered"
    assert message["body"].startswith("Nightly load for ")  # the template was rendered


def test_failed_sms_fails_the_gate_and_alerts_on_call(airflow_db, signalwire_conn):
    run = gate_dag().test(run_conf={"to": "+15550001003", "on_call": "+15550001001"})
    assert run.state == "failed"
    assert states(run) == {
        "send_sms": "success",
        "wait_for_delivery": "failed",
        "publish_report": "upstream_failed",
        "alert_on_call": "success",
    }
    by_to = {m["to"]: m for m in sandbox_messages(signalwire_conn)}
    failed, alert = by_to["+15550001003"], by_to["+15550001001"]
    assert failed["to"] == "+15550001003" and failed["status"] == "failed" and failed["error_code"] == "30007"
    assert alert["to"] == "+15550001001" and "+15550001003 was not delivered" in alert["body"]
