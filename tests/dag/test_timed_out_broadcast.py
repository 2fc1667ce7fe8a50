"""A broadcast that outlives its ``execution_timeout`` in a real task process stops there, and its
retries send only to the rest: every recipient gets the message exactly once.

The DAG runs through the LocalExecutor and Airflow's task supervisor, whose ``execution_timeout``
raises ``AirflowTaskTimeout`` from a SIGALRM handler while the sends run.
"""

from __future__ import annotations

import collections
import json
import pathlib
import sys

import httpx
import pytest

from tests.dag.airflow_processes import airflow_env, api_server, free_port, migrate, run_in_own_group

REPO = pathlib.Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.dag


@pytest.fixture
def sandbox():
    from messaging_sandbox.config import SandboxConfig
    from messaging_sandbox.server import SandboxServer

    with SandboxServer(SandboxConfig(port=0, sent_delay=3600, delivered_delay=3600)) as server:
        yield server


def test_a_broadcast_stopped_by_its_timeout_is_finished_by_its_retries_once_each(tmp_path, sandbox):
    sys.path.insert(0, str(REPO / "tests" / "dags"))
    try:
        from timed_out_broadcast import RECIPIENTS
    finally:
        sys.path.pop(0)
    c = sandbox.config
    conn = {
        "conn_type": "signalwire", "host": "sandbox", "login": c.signalwire_project,
        "password": c.signalwire_token, "extra": {"base_url": sandbox.url, "from_number": "+15551230001"},
    }  # fmt: skip
    port = free_port()
    env = airflow_env(
        tmp_path / "home",
        REPO / "tests" / "dags",
        AIRFLOW_CONN_SIGNALWIRE_DEFAULT=json.dumps(conn),
        AIRFLOW__MESSAGING__STORE_URL=f"sqlite:///{tmp_path / 'store.db'}",
        AIRFLOW__CORE__EXECUTOR="LocalExecutor",
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{port}/execution/",
    )
    migrate(env)
    with api_server(env, port):
        stdout, stderr = run_in_own_group(
            [sys.executable, "-m", "tests.dag.run_with_local_executor", "tests/dags/timed_out_broadcast.py"],
            env, REPO, timeout=600,
        )  # fmt: skip
    assert "STATE success" in stdout, stdout[-3000:] + stderr[-3000:]

    sent = httpx.get(f"{sandbox.url}/_sandbox/messages", params={"service": "signalwire"}).json()["messages"]
    per_recipient = collections.Counter(m["to"] for m in sent)
    assert sorted(per_recipient) == sorted(RECIPIENTS)
    assert set(per_recipient.values()) == {1}  # nobody twice, nobody left out

    logs = sorted((tmp_path / "home" / "logs").rglob("attempt=*.log"))
    assert len(logs) >= 2, "the first try was not stopped by its timeout"
    first = logs[0].read_text()
    assert "AirflowTaskTimeout" in first and "Stopping the sends" in first
    assert "What was sent before it:" in first  # the timeout's error says what was done
    assert "Broadcast done:" in first  # and the report was published before the task failed
