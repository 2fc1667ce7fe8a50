"""A broadcast stopped by Airflow mid-send, in a real task process: by its ``execution_timeout``
(``AirflowTaskTimeout`` from a SIGALRM handler) or by being marked failed through the REST API
(the supervisor sends SIGTERM, which calls ``on_kill``). Either way the sends under way finish and
are recorded, nothing more leaves, and nobody is left in doubt: the retries of the timed-out
broadcast message every recipient exactly once.

The DAGs run through the LocalExecutor and Airflow's task supervisor, as on a worker.
"""

from __future__ import annotations

import collections
import json
import pathlib
import sqlite3
import subprocess
import time

import httpx
import pytest

from tests.dag.airflow_processes import (
    DAG_TEST,
    airflow_env,
    api_server,
    free_port,
    migrate,
    run_in_own_group,
    stop_group,
)
from tests.dags import stopped_broadcast, timed_out_broadcast

REPO = pathlib.Path(__file__).resolve().parents[2]
PASSWORDS = {"admin": "stop-test-admin-pass-1"}

pytestmark = pytest.mark.dag


@pytest.fixture
def sandbox():
    from messaging_sandbox.config import SandboxConfig
    from messaging_sandbox.server import SandboxServer

    with SandboxServer(SandboxConfig(port=0, sent_delay=3600, delivered_delay=3600)) as server:
        yield server


@pytest.fixture
def airflow(tmp_path, sandbox):
    """An Airflow home with the sandbox's connection and a store; yields (env, port) once migrated."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "passwords.json").write_text(json.dumps(PASSWORDS))
    c = sandbox.config
    conn = {
        "conn_type": "signalwire", "host": "sandbox", "login": c.signalwire_project,
        "password": c.signalwire_token, "extra": {"base_url": sandbox.url, "from_number": "+15551230001"},
    }  # fmt: skip
    port = free_port()
    env = airflow_env(
        home,
        REPO / "tests" / "dags",
        AIRFLOW_CONN_SIGNALWIRE_DEFAULT=json.dumps(conn),
        AIRFLOW__MESSAGING__STORE_URL=f"sqlite:///{tmp_path / 'store.db'}",
        AIRFLOW__CORE__EXECUTOR="LocalExecutor",
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{port}/execution/",
        AIRFLOW__API_AUTH__JWT_SECRET="stop-test-jwt-secret-" + "0123456789abcdef" * 4,
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(home / "passwords.json"),
    )
    migrate(env)
    return env, port


def sent_to(sandbox):
    messages = httpx.get(f"{sandbox.url}/_sandbox/messages", params={"service": "signalwire"}).json()[
        "messages"
    ]
    return collections.Counter(m["to"] for m in messages)


def ledger_states(tmp_path):
    with sqlite3.connect(tmp_path / "store.db") as db:
        return dict(db.execute("SELECT state, count(*) FROM messaging_send_ledger GROUP BY state").fetchall())


def task_logs(env):
    return sorted((pathlib.Path(env["AIRFLOW_HOME"]) / "logs").rglob("attempt=*.log"))


def test_a_broadcast_stopped_by_its_timeout_is_finished_by_its_retries_once_each(tmp_path, sandbox, airflow):
    env, port = airflow
    with api_server(env, port):
        stdout, stderr = run_in_own_group(
            [*DAG_TEST, "tests/dags/timed_out_broadcast.py"],
            env, REPO, timeout=600,
        )  # fmt: skip
    assert "STATE success" in stdout, stdout[-3000:] + stderr[-3000:]

    per_recipient = sent_to(sandbox)
    assert sorted(per_recipient) == sorted(timed_out_broadcast.RECIPIENTS)
    assert set(per_recipient.values()) == {1}  # nobody twice, nobody left out
    assert ledger_states(tmp_path) == {"accepted": 30}

    logs = task_logs(env)
    assert len(logs) >= 2, "the first try was not stopped by its timeout"
    first = logs[0].read_text()
    assert "AirflowTaskTimeout" in first and "Stopping the sends" in first
    assert "What was sent before it:" in first  # the timeout's error says what was done
    assert "Broadcast done:" in first  # and the report was published before the task failed


def test_a_broadcast_marked_failed_while_it_sends_stops_and_leaves_nobody_in_doubt(
    tmp_path, sandbox, airflow
):
    env, port = airflow
    with api_server(env, port) as url:
        run = subprocess.Popen(
            [*DAG_TEST, "tests/dags/stopped_broadcast.py"],
            env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 180
            while sum(sent_to(sandbox).values()) < 10 and run.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)
            assert run.poll() is None and sum(sent_to(sandbox).values()) >= 10, "the broadcast did not start"
            token = httpx.post(
                f"{url}/auth/token", json={"username": "admin", "password": PASSWORDS["admin"]}
            )
            api = httpx.Client(base_url=f"{url}/api/v2/dags/stopped_broadcast", timeout=30,
                               headers={"Authorization": f"Bearer {token.json()['access_token']}"})  # fmt: skip
            run_id = api.get("/dagRuns").json()["dag_runs"][0]["dag_run_id"]
            marked = api.patch(f"/dagRuns/{run_id}/taskInstances/broadcast", json={"new_state": "failed"})
            assert marked.status_code == 200, marked.text
            stdout, stderr = run.communicate(timeout=180)
        finally:
            stop_group(run)
    assert "STATE failed" in stdout, stdout[-3000:] + stderr[-3000:]

    sent = sent_to(sandbox)
    assert 10 <= sum(sent.values()) < len(stopped_broadcast.RECIPIENTS) and set(sent.values()) == {1}
    states = ledger_states(tmp_path)
    assert states["accepted"] == sum(sent.values())  # every request that left is recorded
    assert set(states) <= {"accepted", "withdrawn"}  # none pending or unknown: a retry sends the rest
    (log,) = task_logs(env)
    text = log.read_text()
    assert "Stopping the sends: the task was asked to stop (SIGTERM)" in text
    assert "Broadcast done:" in text
