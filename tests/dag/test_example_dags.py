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
    assert run.state == "success", states(run)
    assert states(run) == {
        "send_sms": "success",
        "wait_for_delivery": "success",
        "publish_report": "success",
        "alert_on_call": "skipped",
    }
    (message,) = sandbox_messages(signalwire_conn)
    assert message["to"] == "+15550001001" and message["status"] == "delivered"
    assert message["body"].startswith("Nightly load for ")  # the template was rendered


def test_a_manual_run_without_a_logical_date_sends_too(airflow_db, signalwire_conn):
    """Airflow 3 triggers manual runs without a logical date: the example's text must not need one."""
    httpx.post(f"{signalwire_conn.url}/_sandbox/reset").raise_for_status()
    run = gate_dag().test(logical_date=None, run_conf={"to": "+15550001001"})
    assert run.state == "success", states(run)
    (message,) = sandbox_messages(signalwire_conn)
    assert message["body"].startswith(f"Nightly load for {run.run_after:%Y-%m-%d} finished")


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


@pytest.fixture(scope="module")
def slow_sandbox():
    """Deliveries that take a few seconds, so the deferrable sensors' first look finds them pending
    (on a busy machine more than a second can pass between the send and that look)."""
    from messaging_sandbox.config import SandboxConfig
    from messaging_sandbox.server import SandboxServer

    with SandboxServer(SandboxConfig(port=0, sent_delay=1.5, delivered_delay=1.5, read_delay=0.5)) as server:
        yield server


@pytest.fixture
def whatsapp_env(slow_sandbox, monkeypatch, tmp_path):
    sandbox = slow_sandbox
    from airflow_provider_messaging.store.store import MessageStore
    from airflow_provider_messaging.webhooks.receiver import create_webhook_app
    from messaging_sandbox.server import BackgroundServer
    from tests.webhook_credentials import resolver, whatsapp

    c = sandbox.config
    store_url = f"sqlite:///{tmp_path / 'store.db'}"
    monkeypatch.setenv("AIRFLOW__MESSAGING__STORE_URL", store_url)
    monkeypatch.setenv("AIRFLOW_CONN_WHATSAPP_DEFAULT", json.dumps({
        "conn_type": "whatsapp", "password": c.whatsapp_token,
        "extra": {"phone_number_id": c.whatsapp_phone_number_id, "waba_id": c.whatsapp_waba_id, "base_url": sandbox.url},
    }))  # fmt: skip
    secrets = {"whatsapp_default": whatsapp(c.whatsapp_app_secret)}
    store = MessageStore(store_url)
    with BackgroundServer(create_webhook_app(store=store, credentials=resolver(secrets))) as receiver:
        httpx.post(f"{sandbox.url}/_sandbox/reset").raise_for_status()
        httpx.put(
            f"{sandbox.url}/_sandbox/whatsapp/webhook-url",
            json={"url": f"{receiver.url}/whatsapp/whatsapp_default"},
        )
        yield sandbox
        httpx.put(f"{sandbox.url}/_sandbox/whatsapp/webhook-url", json={"url": None})
    store.dispose()


def whatsapp_dag():
    return importlib.import_module("example_dags.whatsapp_template_delivery_gate").dag


@pytest.fixture
def trigger_runs(monkeypatch):
    """Count the store triggers (WhatsApp's, SignalWire's) dag.test() runs inline: proof that the sensor deferred."""
    from airflow_provider_messaging.triggers.delivery import StoreStatusTrigger

    runs = []
    original = StoreStatusTrigger.run

    def counted(self):
        runs.append(self.message_ids)
        return original(self)

    monkeypatch.setattr(StoreStatusTrigger, "run", counted)
    return runs


def test_weekly_template_is_sent_and_gated_on_delivery(airflow_db, whatsapp_env, trigger_runs):
    run = whatsapp_dag().test(run_conf={"to": ["+15550002001", "+15550002005"], "team": "ops"})
    assert run.state == "success", states(run)
    assert len(trigger_runs) == 1  # the sensor deferred, and resumed to success
    assert states(run) == {
        "send_weekly_report": "success",
        "wait_for_delivery": "success",
        "record_delivery": "success",
    }
    sent = [m for m in sandbox_messages(whatsapp_env) if m["service"] == "whatsapp"]
    assert sorted(m["to"] for m in sent) == ["15550002001", "15550002005"]
    params = sent[0]["payload"]["template"]["components"][0]["parameters"]
    assert params[0] == {"type": "text", "text": "ops"} and params[1]["text"].startswith("the week of ")
    assert sent[0]["payload"]["biz_opaque_callback_data"].startswith(
        "airflow:whatsapp_template_delivery_gate:"
    )


def test_undeliverable_template_fails_the_gate(airflow_db, whatsapp_env, trigger_runs):
    run = whatsapp_dag().test(run_conf={"to": ["+15550002002"]})
    assert run.state == "failed"
    assert states(run)["wait_for_delivery"] == "failed"
    assert len(trigger_runs) == 1  # deferred, and resumed to failure


def test_a_failing_task_notifies_on_call_by_sms_and_whatsapp(airflow_db, signalwire_conn, monkeypatch):
    c = signalwire_conn.config
    monkeypatch.setenv("AIRFLOW_CONN_WHATSAPP_DEFAULT", json.dumps({
        "conn_type": "whatsapp", "password": c.whatsapp_token,
        "extra": {"phone_number_id": c.whatsapp_phone_number_id, "base_url": signalwire_conn.url},
    }))  # fmt: skip
    dag = importlib.import_module("example_dags.notify_on_failure").dag
    run = dag.test(run_conf={"fail": True, "on_call": "+15550001006"})
    assert run.state == "failed"
    by_service = {m["service"]: m for m in sandbox_messages(signalwire_conn)}
    sms, wa = by_service["signalwire"], by_service["whatsapp"]
    assert sms["to"] == "+15550001006" and wa["to"] == "15550002001"
    for text in (sms["body"], wa["body"]):
        assert text.startswith(
            "Airflow: task load_warehouse failed in DAG notify_on_failure (try 1, run manual__"
        )
        assert "Log: http" in text


def test_a_successful_run_sends_nothing(airflow_db, signalwire_conn):
    dag = importlib.import_module("example_dags.notify_on_failure").dag
    assert dag.test(run_conf={"fail": False}).state == "success"
    assert sandbox_messages(signalwire_conn) == []


def test_weekly_broadcast_from_csv_is_gated_on_95_percent_delivered(airflow_db, whatsapp_env, tmp_path):
    dag = importlib.import_module("example_dags.weekly_whatsapp_broadcast").dag
    run = dag.test()
    assert run.state == "success", states(run)
    sent = [m for m in sandbox_messages(whatsapp_env) if m["service"] == "whatsapp"]
    assert len(sent) == 39  # 40 rows, one without a country code skipped
    assert "15550002002" in {m["to"] for m in sent}  # not on WhatsApp: 38 of 39 delivered passes 95 %
    first = sent[0]["payload"]["template"]
    assert first["name"] == "weekly_report" and len(first["components"][0]["parameters"]) == 2


def test_weekly_broadcast_fails_its_gate_below_95_percent(airflow_db, whatsapp_env, tmp_path):
    csv_path = tmp_path / "few.csv"
    csv_path.write_text("to,name,team\n+15550002001,Ann,ops\n+15550002002,Bob,ops\n")
    dag = importlib.import_module("example_dags.weekly_whatsapp_broadcast").dag
    run = dag.test(run_conf={"csv_path": str(csv_path)})
    assert run.state == "failed"
    assert states(run)["broadcast_weekly_report"] == "success"
    assert states(run)["wait_for_95_percent_delivered"] == "failed"


def test_a_broadcast_in_four_shards_messages_everyone_once_behind_one_gate(
    airflow_db, whatsapp_env, trigger_runs
):
    dag = importlib.import_module("example_dags.sharded_whatsapp_broadcast").dag
    run = dag.test()
    assert run.state == "success", states(run)
    shards = [ti for ti in run.get_task_instances() if ti.task_id == "broadcast"]
    assert sorted(ti.map_index for ti in shards) == [0, 1, 2, 3]
    assert all(ti.state == "success" for ti in shards)
    sent = [m for m in sandbox_messages(whatsapp_env) if m["service"] == "whatsapp"]
    assert len(sent) == 39 and len({m["to"] for m in sent}) == 39  # as unsplit: one row skipped
    assert len(trigger_runs) == 1 and len(trigger_runs[0]) == 39  # one gate over all four shards


def test_approve_by_reply_waits_for_the_approvers_yes(airflow_db, whatsapp_env):
    import threading
    import time

    done = threading.Event()

    def approver_answers():
        """Answer once asked, and keep answering until the run ends (the wait may begin late)."""
        while not done.is_set() and not any(m["to"] == "15550002001" for m in sandbox_messages(whatsapp_env)):
            time.sleep(0.05)
        while not done.wait(0.5):
            for text in ("not now", "YES"):  # the first does not match the pattern
                httpx.post(f"{whatsapp_env.url}/_sandbox/whatsapp/inbound",
                           json={"from": "+15550002001", "text": text}).raise_for_status()  # fmt: skip

    approver = threading.Thread(target=approver_answers)
    approver.start()
    dag = importlib.import_module("example_dags.approve_by_reply").dag
    try:
        run = dag.test()
    finally:
        done.set()
        approver.join()
    assert run.state == "success", states(run)
    assert states(run) == {"ask_approver": "success", "wait_for_yes": "success", "publish": "success"}


@pytest.mark.parametrize(
    ("to", "run_state", "final"), [("+15550001001", "success", "delivered"), ("+15550001002", "failed", "undelivered")]
)  # fmt: skip
def test_a_relay_send_is_gated_after_its_task_ended_from_the_message_logs(
    airflow_db, monkeypatch, tmp_path, trigger_runs, to, run_state, final
):
    from messaging_sandbox.config import SandboxConfig
    from messaging_sandbox.server import SandboxServer

    # receipts come about five seconds after the send: the send task has ended, the gate has deferred
    with SandboxServer(SandboxConfig(port=0, sent_delay=2.0, delivered_delay=2.0)) as sandbox:
        relay_gate(sandbox, monkeypatch, tmp_path, trigger_runs, to, run_state, final)


def relay_gate(signalwire_conn, monkeypatch, tmp_path, trigger_runs, to, run_state, final):
    from airflow_provider_messaging.store.store import MessageStore

    c = signalwire_conn.config
    monkeypatch.setenv("AIRFLOW_CONN_SIGNALWIRE_DEFAULT", json.dumps({
        "conn_type": "signalwire", "host": "sandbox", "login": c.signalwire_project, "password": c.signalwire_token,
        "extra": {"base_url": signalwire_conn.url, "from_number": "+15551230001"}}))  # fmt: skip

    store_url = f"sqlite:///{tmp_path / 'relay.db'}"
    monkeypatch.setenv("AIRFLOW__MESSAGING__STORE_URL", store_url)
    dag = importlib.import_module("example_dags.signalwire_relay_delivery_gate").dag
    run = dag.test(run_conf={"to": to})
    assert run.state == run_state, states(run)
    assert len(trigger_runs) == 1  # the gate deferred, and the trigger decided
    (sent,) = sandbox_messages(signalwire_conn)
    assert (sent["relay_context"], sent["relay_framing"], sent["status"]) == ("office", "signalwire", final)
    assert sent["tags"][0] == "dag:signalwire_relay_delivery_gate" and sent["tags"][1].startswith("run:")
    store = MessageStore(store_url)
    events = [e["raw_status"] for e in store.events_for("signalwire", sent["sid"])]
    store.dispose()
    assert events[0] == "queued" and events[-1] == final  # the send task saw queued; the logs told the rest


def test_a_generated_pdf_is_sent_to_a_user_id_and_gated_on_delivery(
    airflow_db, whatsapp_env, trigger_runs, tmp_path
):
    dag = importlib.import_module("example_dags.whatsapp_pdf_report").dag
    run = dag.test(run_conf={"to": "US.15550002008", "report_dir": f"file://{tmp_path}/reports/"})
    assert run.state == "success", states(run)
    assert states(run) == {
        "render_report": "success",
        "send_report": "success",
        "wait_for_delivery": "success",
    }
    assert len(trigger_runs) == 1  # the gate deferred and resumed to success
    (sent,) = [m for m in sandbox_messages(whatsapp_env) if m["service"] == "whatsapp"]
    assert sent["payload"]["recipient"] == "US.15550002008" and sent["payload"]["type"] == "document"
    (report,) = (tmp_path / "reports").iterdir()
    assert sent["payload"]["document"]["filename"] == report.name and report.read_bytes().startswith(
        b"%PDF-1.4"
    )


def test_make_demo_clears_the_trigger_rows_dag_test_leaves_behind(
    airflow_db, whatsapp_env, trigger_runs, monkeypatch
):
    """dag.test runs a deferred sensor's trigger in its own process and leaves the trigger's row for a
    triggerer to clear. On SQLite a triggerer started on such rows could hand a leftover's event to an
    AssetWatcher's trigger that reused its id (a delivery report started make demo's message-queue
    DAG), so the demo clears them before its triggerer starts."""
    import importlib.util
    import os
    import pathlib

    from airflow.models.trigger import Trigger
    from airflow.utils.session import create_session

    def trigger_rows() -> list[str]:
        with create_session() as session:
            return [t.classpath for t in session.query(Trigger).all()]

    run = whatsapp_dag().test(run_conf={"to": ["+15550002001"], "team": "ops"})
    assert run.state == "success" and len(trigger_runs) == 1
    assert any(path.endswith(".StoreStatusTrigger") for path in trigger_rows()), trigger_rows()
    spec = importlib.util.spec_from_file_location(
        "make_demo", pathlib.Path(__file__).parents[2] / "scripts" / "demo.py"
    )
    assert spec is not None and spec.loader is not None
    demo = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "make_demo", demo)  # its dataclasses look their module up
    spec.loader.exec_module(demo)
    demo.clear_leftover_triggers(dict(os.environ))
    assert trigger_rows() == []
