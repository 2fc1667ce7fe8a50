"""``make demo``: run the example DAGs against the local sandbox and show what happened.

Starts the sandbox on a free loopback port, runs each example with ``airflow dags test`` in a
throwaway AIRFLOW_HOME, then prints every message the sandbox accepted with its final state and
each DAG run's outcome. Exits 0 only when every run ended as the scenario expects.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import Any

import httpx

from airflow_provider_messaging.core.signalwire_codes import describe_signalwire_code
from airflow_provider_messaging.sandbox.config import SandboxConfig
from airflow_provider_messaging.sandbox.server import SandboxServer

REPO = pathlib.Path(__file__).resolve().parent.parent
BIN = pathlib.Path(sys.executable).parent


@dataclass(frozen=True)
class Scenario:
    title: str
    dag_id: str
    conf: dict[str, str]
    expected_run_state: str


SCENARIOS = [
    Scenario(
        "SMS to a reachable phone, gated on delivery",
        "signalwire_delivery_gate",
        {"to": "+15550001001"},
        "success",
    ),
    Scenario(
        "SMS to a number the carrier rejects (magic +15550001003): the gate fails, on-call is alerted",
        "signalwire_delivery_gate",
        {"to": "+15550001003", "on_call": "+15550001001"},
        "failed",
    ),
]


def airflow(env: dict[str, str], *args: str, capture: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "airflow"), *args], env=env, text=True, capture_output=capture, check=False
    )


RUNS_QUERY = """
import json
from airflow.models import DagRun
from airflow.utils.session import create_session
with create_session() as session:
    runs = session.query(DagRun).filter(DagRun.dag_id == {dag_id!r}).order_by(DagRun.id).all()
    rows = [{{"run_id": r.run_id, "state": str(r.state),
              "tasks": {{ti.task_id: str(ti.state) for ti in r.get_task_instances(session=session)}}}}
            for r in runs]
print("RUNS=" + json.dumps(rows))
"""


def dag_runs(env: dict[str, str], dag_id: str) -> list[dict[str, Any]]:
    """Runs of ``dag_id`` with their task states, read from the metadata database."""
    out = subprocess.run(
        [sys.executable, "-c", RUNS_QUERY.format(dag_id=dag_id)],
        env=env,
        text=True,
        capture_output=True,
        check=True,
    )
    line = next(line for line in out.stdout.splitlines() if line.startswith("RUNS="))
    return list(json.loads(line[len("RUNS=") :]))


def main() -> int:
    home = pathlib.Path(tempfile.mkdtemp(prefix="messaging-demo-"))
    config = SandboxConfig(port=0, sent_delay=0.3, delivered_delay=0.5)
    ok = True
    with SandboxServer(config) as sandbox:
        conn = {
            "conn_type": "signalwire",
            "host": "sandbox",
            "login": config.signalwire_project,
            "password": config.signalwire_token,
            "extra": {
                "base_url": sandbox.url,
                "from_number": "+15551230001",
                "signing_key": config.signing_key,
            },
        }
        env = {
            **os.environ,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "example_dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW_CONN_SIGNALWIRE_DEFAULT": json.dumps(conn),
        }
        print(f"sandbox: {sandbox.url}   AIRFLOW_HOME: {home}")
        migrated = airflow(env, "db", "migrate")
        if migrated.returncode != 0:
            print(migrated.stdout, migrated.stderr)
            return 1

        for scenario in SCENARIOS:
            print(f"\n=== {scenario.title}")
            before = {r["run_id"] for r in dag_runs(env, scenario.dag_id)}
            result = airflow(env, "dags", "test", scenario.dag_id, "-c", json.dumps(scenario.conf))
            runs = [r for r in dag_runs(env, scenario.dag_id) if r["run_id"] not in before]
            if not runs:
                print(result.stdout[-3000:], result.stderr[-3000:])
                ok = False
                continue
            run = runs[0]
            tasks = run["tasks"]
            print(f"run {run['run_id']}: {run['state']} (expected {scenario.expected_run_state})")
            for task_id, state in tasks.items():
                print(f"  {task_id:<20} {state}")
            if run["state"] != scenario.expected_run_state:
                ok = False
                print(result.stdout[-3000:], result.stderr[-3000:])

        messages = httpx.get(f"{sandbox.url}/_sandbox/messages").json()["messages"]
        print(f"\n=== What the sandbox accepted ({len(messages)} message(s))")
        for m in messages:
            code = m.get("error_code")
            meaning = f"  <- {describe_signalwire_code(code)}" if code else ""
            print(f"  {m['to']}  {m['status']:<11} sid={m['sid']}  {m['body'][:48]!r}{meaning}")
    shutil.rmtree(home, ignore_errors=True)
    print("\ndemo:", "OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
