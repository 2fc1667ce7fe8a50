"""The Relay gate as a deployment runs it: the send task on a LocalExecutor worker, the deferred gate
in a real ``airflow triggerer`` process, which finds the receipt in SignalWire's message logs."""

from __future__ import annotations

import json
import pathlib

import pytest

from tests.dag.airflow_processes import (
    DAG_TEST,
    airflow_env,
    airflow_process,
    api_server,
    free_port,
    migrate,
    run_in_own_group,
)

REPO = pathlib.Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.dag


def test_a_real_triggerer_passes_the_relay_gate_from_the_message_logs(tmp_path):
    import httpx

    from airflow_provider_messaging.store.store import MessageStore
    from messaging_sandbox.config import SandboxConfig
    from messaging_sandbox.server import SandboxServer

    port = free_port()
    store_url = f"sqlite:///{tmp_path / 'store.db'}"
    # +15550001006 is delivered ten times slower: about 15 s after the send, long after its task ended
    with SandboxServer(SandboxConfig(port=0, sent_delay=0.5, delivered_delay=1.0)) as sandbox:
        c = sandbox.config
        env = airflow_env(
            tmp_path / "home", REPO / "example_dags",
            AIRFLOW_CONN_SIGNALWIRE_DEFAULT=json.dumps({
                "conn_type": "signalwire", "host": "sandbox", "login": c.signalwire_project,
                "password": c.signalwire_token, "extra": {"base_url": sandbox.url, "from_number": "+15551230001"}}),
            AIRFLOW__MESSAGING__STORE_URL=store_url,
            AIRFLOW__CORE__EXECUTOR="LocalExecutor",
            AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{port}/execution/",
            AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT=str(free_port()),
        )  # fmt: skip
        migrate(env)
        with api_server(env, port), airflow_process(env, "triggerer"):
            stdout, stderr = run_in_own_group(
                [*DAG_TEST, "example_dags/signalwire_relay_delivery_gate.py", json.dumps({"to": "+15550001006"})],
                env, REPO, timeout=300,
            )  # fmt: skip
        (sent,) = httpx.get(f"{sandbox.url}/_sandbox/messages").json()["messages"]
    assert "STATE success" in stdout, (
        stdout[-3000:]
        + stderr[-3000:]
        + (pathlib.Path(env["AIRFLOW_HOME"]) / "triggerer.log").read_text()[-3000:]
    )
    gate_logs = tmp_path / "home" / "logs" / "dag_id=signalwire_relay_delivery_gate"
    task_log = "\n".join(p.read_text() for p in gate_logs.rglob("task_id=wait_for_delivery/attempt=1.log"))
    trigger_log = "\n".join(
        p.read_text() for p in gate_logs.rglob("task_id=wait_for_delivery/*.trigger.*.log")
    )
    assert "Pausing task as DEFERRED" in task_log  # the gate handed the wait over...
    assert (
        "Trigger fired event" in trigger_log and "'status': 'success'" in trigger_log
    )  # ...and the triggerer decided
    store = MessageStore(store_url)
    events = [e["raw_status"] for e in store.events_for("signalwire", sent["sid"])]
    store.dispose()
    assert events[0] == "queued" and events[-1] == "delivered" and sent["relay_framing"] == "signalwire"
