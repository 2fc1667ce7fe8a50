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
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from airflow_provider_messaging.signalwire.errors import SIGNALWIRE_ERRORS
from airflow_provider_messaging.store.store import MessageStore
from airflow_provider_messaging.whatsapp.errors import WHATSAPP_ERRORS
from messaging_sandbox.config import SandboxConfig
from messaging_sandbox.server import SandboxServer

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the Airflow components run as the DAG tests run them
from tests.dag.airflow_processes import airflow_process, api_server, free_port  # noqa: E402

BIN = pathlib.Path(sys.executable).parent


@dataclass(frozen=True)
class Scenario:
    title: str
    dag_id: str
    conf: dict[str, Any]
    expected_run_state: str
    reply: tuple[str, str] | None = None  # (number, text): the demo plays this user answering
    logical_date: bool = True  # False: a run without a logical date, as a manual trigger in Airflow 3 makes
    tap: tuple[str, str] | None = None  # (number, button title): the demo taps a button of the question
    sms: tuple[str, str] | None = None  # (number, text): the demo answers the question by SMS


SCENARIOS = [
    Scenario(
        "SMS to a reachable phone, gated on delivery (a manual run: no logical date)",
        "signalwire_delivery_gate",
        {"to": "+15550001001"},
        "success",
        logical_date=False,
    ),
    Scenario(
        "SMS to a number the carrier rejects (magic +15550001003): the gate fails, on-call is alerted",
        "signalwire_delivery_gate",
        {"to": "+15550001003", "on_call": "+15550001001"},
        "failed",
    ),
    Scenario(
        "SMS over SignalWire Relay (current framing, context 'office', tags); the send task ends at once, "
        "the receipt comes 9 s later (magic +15550001006), and the deferred gate passes on it from the "
        "message logs with on_timeout='fail'",
        "signalwire_relay_delivery_gate",
        {"to": "+15550001006"},
        "success",
    ),
    Scenario(
        "WhatsApp template to two phones (one sends every webhook twice, out of order), gated on delivery",
        "whatsapp_template_delivery_gate",
        {"to": ["+15550002001", "+15550002005"]},
        "success",
    ),
    Scenario(
        "WhatsApp template to a number that is not on WhatsApp (magic +15550002002): the gate fails",
        "whatsapp_template_delivery_gate",
        {"to": ["+15550002002"]},
        "failed",
    ),
    Scenario(
        "Weekly WhatsApp template broadcast from a 40-row CSV (one row without a country code, one "
        "number not on WhatsApp), gated on 95 % delivered",
        "weekly_whatsapp_broadcast",
        {},
        "success",
    ),
    Scenario(
        "The same broadcast in four shards (dynamic task mapping: the shards share the number's rate "
        "through the status store), one gate over all of them",
        "sharded_whatsapp_broadcast",
        {},
        "success",
    ),
    Scenario(
        "Approve by reply: ask +15550002001 on WhatsApp, wait (deferred) for a YES, then publish",
        "approve_by_reply",
        {"approver": "+15550002001"},
        "success",
        reply=("+15550002001", "YES"),
    ),
    Scenario(
        "A generated PDF report, uploaded once and sent as a document to a user known only by "
        "business-scoped user id (magic US.15550002008), gated on delivery",
        "whatsapp_pdf_report",
        {"to": "US.15550002008", "report_dir": "file://{AIRFLOW_HOME}/reports/"},
        "success",
    ),
    Scenario(
        "Deploy gate (Airflow's ApprovalOperator) answered on WhatsApp: the on-call engineer taps Approve",
        "whatsapp_deploy_approval",
        {"on_call": "+15550002001"},
        "success",
        tap=("+15550002001", "Approve"),
    ),
    Scenario(
        "The same gate to a phone outside the 24-hour window (magic +15550002003): asked with the template "
        "hitl_question, whose quick reply Reject skips the deploy",
        "whatsapp_deploy_approval",
        {"on_call": "+15550002003"},
        "success",
        tap=("+15550002003", "Reject"),
    ),
    Scenario(
        "Backfill or skip (Airflow's HITLBranchOperator) answered by SMS: the engineer replies 2",
        "sms_hitl_branch",
        {"engineer": "+15550001001"},
        "success",
        sms=("+15550001001", "2"),
    ),
    Scenario(
        "A task fails: its on_failure_callback notifiers text on-call by SMS and on WhatsApp",
        "notify_on_failure",
        {"fail": True, "on_call": "+15550001001"},
        "failed",
    ),
]


BROADCASTS = ("weekly_whatsapp_broadcast", "sharded_whatsapp_broadcast")  # summed up, not listed
SCENARIO_TIMEOUT = 600  # seconds a run may take before the demo gives up on it
HTTP_TIMEOUT = 30  # seconds for a request to the sandbox or the api-server (slow on a loaded machine)
PASSWORDS = {"admin": "demo-admin-password", "messaging": "demo-messaging-password"}


def airflow(env: dict[str, str], *args: str, capture: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "airflow"), *args], env=env, text=True, capture_output=capture, check=False,
        timeout=SCENARIO_TIMEOUT,
    )  # fmt: skip


# `airflow dags test` always sets a logical date; a run triggered by hand in Airflow 3 has none
NO_LOGICAL_DATE = """
import importlib.util
spec = importlib.util.spec_from_file_location("example", {path!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
dag = next(v for v in vars(module).values() if getattr(v, "dag_id", None) == {dag_id!r} and hasattr(v, "test"))
dag.test(logical_date=None, run_conf={conf!r})
"""

RUNS_QUERY = """
import json
from airflow.models import DagRun
from airflow.utils.session import create_session
with create_session() as session:
    runs = session.query(DagRun).filter(DagRun.dag_id == {dag_id!r}).order_by(DagRun.id).all()
    rows = [{{"run_id": r.run_id, "state": str(r.state),
              "tasks": {{ti.task_id: str(ti.state) for ti in r.get_task_instances(session=session)}},
              "ended": {{ti.task_id: ti.end_date.timestamp() for ti in r.get_task_instances(session=session)
                        if ti.end_date}}}}
            for r in runs]
print("RUNS=" + json.dumps(rows))
"""


# `dag.test` runs a deferred task's trigger in its own process and leaves the trigger's row behind,
# for a triggerer to clear. On SQLite a row id is reused once the highest row is deleted: a triggerer
# starting the leftover trigger, then clearing its row while the dag-processor adds an AssetWatcher's
# trigger under the same id, records the leftover's event as an event of the watched asset (seen:
# a sensor's delivery report started the message-queue DAG). So leftovers go before a triggerer starts.
CLEAR_LEFTOVER_TRIGGERS = """
from airflow.models.trigger import Trigger
Trigger.clean_unused()
"""


def clear_leftover_triggers(env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-c", CLEAR_LEFTOVER_TRIGGERS], env=env, check=True, timeout=SCENARIO_TIMEOUT,
                   capture_output=True)  # fmt: skip


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


def connections(config: SandboxConfig, sandbox_url: str) -> dict[str, str]:
    signalwire = {
        "conn_type": "signalwire",
        "host": "sandbox",
        "login": config.signalwire_project,
        "password": config.signalwire_token,
        "extra": {
            "base_url": sandbox_url,
            "from_number": "+15551230001",
            "signing_secret": config.signing_key,
        },
    }
    whatsapp = {
        "conn_type": "whatsapp", "password": config.whatsapp_token,
        "extra": {"base_url": sandbox_url, "phone_number_id": config.whatsapp_phone_number_id,
                  "waba_id": config.whatsapp_waba_id, "app_secret": config.whatsapp_app_secret,
                  "verify_token": "demo-verify-token"},
    }  # fmt: skip
    return {
        "AIRFLOW_CONN_SIGNALWIRE_DEFAULT": json.dumps(signalwire),
        "AIRFLOW_CONN_WHATSAPP_DEFAULT": json.dumps(whatsapp),
    }


def airflow_api(home: pathlib.Path, api_url: str) -> dict[str, str]:
    """Airflow's API server with an admin and ``messaging``, the account that records answers given
    by message (connection ``airflow_api_default``)."""
    (home / "passwords.json").write_text(json.dumps(PASSWORDS))
    return {
        "AIRFLOW__API__BASE_URL": api_url,
        "AIRFLOW__API_AUTH__JWT_SECRET": "demo-jwt-secret-" + "0123456789abcdef" * 4,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,messaging:user",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api_url}/execution/",
        "AIRFLOW_CONN_AIRFLOW_API_DEFAULT": json.dumps(
            {"conn_type": "http", "host": api_url, "login": "messaging", "password": PASSWORDS["messaging"]}
        ),
    }


@contextmanager
def webhook_receiver(env: dict[str, str], port: int) -> Iterator[str]:
    """``airflow-messaging webhooks`` as its own process, as a user would run it."""
    proc = subprocess.Popen(
        [str(BIN / "airflow-messaging"), "webhooks", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise RuntimeError("the webhook receiver did not start")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@contextmanager
def playing(sandbox_url: str, receiver_url: str, scenario: Scenario) -> Iterator[None]:
    """Play the person a scenario messages: once a message of this run reached them, they answer on
    WhatsApp (a text, or a tap on the question's button) or by SMS, through the sandbox."""
    answering = scenario.reply or scenario.tap or scenario.sms
    if answering is None:
        yield
        return
    number, text = answering
    started, done = time.time(), threading.Event()

    def reached() -> bool:
        messages = httpx.get(f"{sandbox_url}/_sandbox/messages", timeout=HTTP_TIMEOUT).json()["messages"]
        return any(m["to"].lstrip("+") == number.lstrip("+") and m["created_at"] >= started for m in messages)

    def answer() -> bool:
        """True once answered for good; a text reply is sent again (the wait may begin after it)."""
        if scenario.tap:
            return httpx.post(
                f"{sandbox_url}/_sandbox/whatsapp/tap",
                json={"to": number, "title": text},
                timeout=HTTP_TIMEOUT,
            ).is_success
        if scenario.sms:
            return httpx.post(f"{sandbox_url}/_sandbox/signalwire/sms", json={"from": number, "to": "+15551230001",
                              "text": text, "url": f"{receiver_url}/signalwire/signalwire_default"}, timeout=HTTP_TIMEOUT).is_success  # fmt: skip
        httpx.post(
            f"{sandbox_url}/_sandbox/whatsapp/inbound",
            json={"from": number, "text": text},
            timeout=HTTP_TIMEOUT,
        )
        return False

    def play() -> None:
        while not done.wait(0.2) and not reached():
            pass
        pause = 1.0
        while not done.wait(pause) and not answer():
            pause = 1.0 if scenario.reply is None else 5.0

    thread = threading.Thread(target=play, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def run_dag(env: dict[str, str], scenario: Scenario) -> subprocess.CompletedProcess[str]:
    """``airflow dags test`` (or ``dag.test`` without a logical date), bounded by SCENARIO_TIMEOUT."""
    conf = json.loads(json.dumps(scenario.conf).replace("{AIRFLOW_HOME}", env["AIRFLOW_HOME"]))
    if scenario.logical_date:
        return airflow(env, "dags", "test", scenario.dag_id, "-c", json.dumps(conf))
    return subprocess.run(
        [sys.executable, "-c", NO_LOGICAL_DATE.format(dag_id=scenario.dag_id, conf=conf,
                                                      path=str(REPO / "example_dags" / f"{scenario.dag_id}.py"))],
        env=env, text=True, capture_output=True, check=False, timeout=SCENARIO_TIMEOUT,
    )  # fmt: skip


def run_scenario(env: dict[str, str], scenario: Scenario, sandbox_url: str, receiver_url: str) -> bool:
    print(f"\n=== {scenario.title}")
    before = {r["run_id"] for r in dag_runs(env, scenario.dag_id)}
    with playing(sandbox_url, receiver_url, scenario):
        try:
            result = run_dag(env, scenario)
        except subprocess.TimeoutExpired:
            print(f"still running after {SCENARIO_TIMEOUT} s: stopped")
            return False
    runs = [r for r in dag_runs(env, scenario.dag_id) if r["run_id"] not in before]
    if not runs:
        print(result.stdout[-3000:], result.stderr[-3000:])
        return False
    run = runs[0]
    print(f"run {run['run_id']}: {run['state']} (expected {scenario.expected_run_state})")
    for task_id, state in run["tasks"].items():
        print(f"  {task_id:<26} {state}")
    if run["state"] != scenario.expected_run_state:
        print(result.stdout[-3000:], result.stderr[-3000:])
        return False
    if scenario.dag_id == "signalwire_relay_delivery_gate":
        return show_relay_gate(env, sandbox_url, run, result.stdout + result.stderr)
    return True


def show_relay_gate(env: dict[str, str], sandbox_url: str, run: dict[str, Any], output: str) -> bool:
    """What the Relay gate saw: the send task's state event, then the receipt the logs gave later."""
    (message,) = [m for m in httpx.get(f"{sandbox_url}/_sandbox/messages", timeout=HTTP_TIMEOUT).json()["messages"]
                  if m.get("relay_context") == "office"]  # fmt: skip
    store = MessageStore(env["AIRFLOW__MESSAGING__STORE_URL"])
    events = store.events_for("signalwire", message["sid"])
    store.dispose()
    ended = run["ended"]["send_over_relay"]
    deferred = "running trigger in line" in output  # what `airflow dags test` logs for a deferral
    print(
        f"  Relay framing spoken: {message['relay_framing']}; the gate deferred: {'yes' if deferred else 'no'}"
    )
    for event in events:
        after = event["event_ts"] - ended
        by = "the send task (Relay state event)" if after <= 0 else "the gate (message logs)"
        print(
            f"    store: {event['raw_status']:<10} {after:+6.1f} s after the send task ended, written by {by}"
        )
    return deferred and events[-1]["raw_status"] == "delivered" and events[-1]["event_ts"] > ended


QUEUE_DAG, REQUESTER = "deploy_on_whatsapp_message", "+15550002007"


def run_message_queue(env: dict[str, str], api_url: str, sandbox_url: str) -> bool:
    """A DAG started by an inbound message: the dag-processor registers its AssetWatcher, the triggerer
    runs MessageQueueTrigger, the scheduler starts a run per message (only this DAG is in its folder)."""
    print(f"\n=== A DAG started by an inbound WhatsApp message (MessageQueueTrigger(scheme='whatsapp')): "
          f"{REQUESTER} writes 'deploy please'")  # fmt: skip
    dags = pathlib.Path(env["AIRFLOW_HOME"]) / "queue_dags"
    dags.mkdir(exist_ok=True)
    shutil.copy(REPO / "example_dags" / "inbound_message_queue.py", dags)
    queue_env = {**env, "AIRFLOW__CORE__DAGS_FOLDER": str(dags), "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                 "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5"}  # fmt: skip
    token = httpx.post(
        f"{api_url}/auth/token",
        json={"username": "admin", "password": PASSWORDS["admin"]},
        timeout=HTTP_TIMEOUT,
    )
    rest = httpx.Client(base_url=f"{api_url}/api/v2", timeout=30,
                        headers={"Authorization": f"Bearer {token.json()['access_token']}"})  # fmt: skip
    runs: list[dict[str, Any]] = []
    clear_leftover_triggers(queue_env)
    with (
        airflow_process(queue_env, "dag-processor"),
        airflow_process(queue_env, "scheduler"),
        airflow_process(queue_env, "triggerer"),
    ):
        deadline = time.monotonic() + SCENARIO_TIMEOUT
        while time.monotonic() < deadline:
            answer = rest.get(f"/dags/{QUEUE_DAG}/dagRuns")
            runs = answer.json().get("dag_runs", []) if answer.status_code == 200 else []
            if any(r["state"] in ("success", "failed") for r in runs):
                break
            if not runs:  # until the watcher runs in the triggerer: it sees messages sent after it started
                rest.patch(f"/dags/{QUEUE_DAG}", json={"is_paused": False})  # `dags test` added it paused
                httpx.post(
                    f"{sandbox_url}/_sandbox/whatsapp/inbound",
                    json={"from": REQUESTER, "text": "deploy please"},
                    timeout=HTTP_TIMEOUT,
                )
            time.sleep(5 if not runs else 1)
        finished = [r for r in runs if r["state"] in ("success", "failed")]
        if not finished:
            print(f"no run finished within {SCENARIO_TIMEOUT} s")
            return False
        run = finished[0]
        tasks = rest.get(f"/dags/{QUEUE_DAG}/dagRuns/{run['dag_run_id']}/taskInstances").json()[
            "task_instances"
        ]
    print(f"run {run['dag_run_id']}: {run['state']} (expected success; {len(runs)} run(s) in all)")
    for ti in tasks:
        print(f"  {ti['task_id']:<26} {ti['state']}")
    return bool(run["state"] == "success")


def print_answers(store_url: str) -> None:
    """Each reply the responder took as an answer to a question, and what came of it."""
    from airflow_provider_messaging.store.hitl import answers

    store = MessageStore(store_url)
    try:
        with store.engine.connect() as conn:
            rows = conn.execute(answers.select().order_by(answers.c.updated_at)).mappings().all()
    except Exception:  # no question was asked: no table
        rows = []
    store.dispose()
    if rows:
        print("\n=== Replies taken as answers to human-in-the-loop questions")
    for row in rows:
        print(f"  {row['service']:<10} {row['message_id'][:24]:<24} {row['outcome']}")


def print_accepted(sandbox_url: str, store_url: str) -> None:
    """Each message the sandbox accepted, the order its statuses were reported in, and its final state
    (for WhatsApp: as the webhook receiver stored it, which is what the sensors read)."""
    messages = httpx.get(f"{sandbox_url}/_sandbox/messages", timeout=HTTP_TIMEOUT).json()["messages"]
    store = MessageStore(store_url)
    stored = store.get_statuses("whatsapp", [m["sid"] for m in messages if m["service"] == "whatsapp"])
    replies = store.inbound_since("whatsapp", since=0)
    store.dispose()
    if replies:
        senders = Counter(f"+{r.sender} {r.text!r}" for r in replies)
        listed = ", ".join(f"{who} x{n}" for who, n in senders.items())
        print(f"\n=== Inbound WhatsApp messages the receiver stored: {listed}")
    print(f"\n=== What the sandbox accepted ({len(messages)} message(s)) and their final states")
    broadcast: list[dict[str, Any]] = []
    for dag_id in BROADCASTS:
        sent = [m for m in messages if dag_id in str(m.get("payload") or "")]
        if sent:
            finals = Counter(
                stored[m["sid"]].state.value if m["sid"] in stored else m["status"] for m in sent
            )
            summary = ", ".join(f"{n} {state}" for state, n in sorted(finals.items()))
            print(f"  whatsapp   {dag_id}: {len(sent)} template messages: {summary}")
        broadcast += sent
    for m in messages:
        if m in broadcast:
            continue
        code = m.get("error_code")
        describe = (WHATSAPP_ERRORS if m["service"] == "whatsapp" else SIGNALWIRE_ERRORS).describe
        meaning = f"\n      <- {describe(code)}" if code else ""
        reported = " > ".join(h["status"] for h in m["history"])
        final = stored[m["sid"]].state.value if m["sid"] in stored else m["status"]
        interactive = (m.get("payload") or {}).get("interactive") or {}
        body = (m["body"] or (interactive.get("body") or {}).get("text") or " ".join(m["media"]) or "")[:40]
        service = f"relay:{m['relay_context']}" if m.get("relay_context") else m["service"]
        print(f"  {service:<10} {m['to']:<14} {final:<11} {body!r}  reported: {reported}{meaning}")


def main() -> int:
    home = pathlib.Path(tempfile.mkdtemp(prefix="messaging-demo-"))
    receiver_port, api_port = free_port(), free_port()
    api_url = f"http://127.0.0.1:{api_port}"
    config = SandboxConfig(
        port=0, sent_delay=0.3, delivered_delay=0.5, read_delay=0.5,
        webhook_url=f"http://127.0.0.1:{receiver_port}/whatsapp/whatsapp_default",
    )  # fmt: skip
    ok = True
    with SandboxServer(config) as sandbox:
        env = {
            **os.environ,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "example_dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__MESSAGING__STORE_URL": f"sqlite:///{home / 'messaging_store.db'}",
            **connections(config, sandbox.url),
            **airflow_api(home, api_url),
        }
        print(f"sandbox: {sandbox.url}   AIRFLOW_HOME: {home}")
        migrated = airflow(env, "db", "migrate")
        if migrated.returncode != 0:
            print(migrated.stdout, migrated.stderr)
            return 1
        with webhook_receiver(env, receiver_port) as receiver, api_server(env, api_port):
            print(
                f"webhook receiver: {receiver} (WhatsApp statuses -> {env['AIRFLOW__MESSAGING__STORE_URL']}); "
                f"answers given by message recorded through {api_url} as 'messaging'"
            )
            for scenario in SCENARIOS:
                ok = run_scenario(env, scenario, sandbox.url, receiver) and ok
            ok = run_message_queue(env, api_url, sandbox.url) and ok
        print_answers(env["AIRFLOW__MESSAGING__STORE_URL"])
        print_accepted(sandbox.url, env["AIRFLOW__MESSAGING__STORE_URL"])
    if ok:
        shutil.rmtree(home, ignore_errors=True)
    else:  # the task logs say why a run ended otherwise than expected
        print(f"\nAIRFLOW_HOME with the task logs kept: {home}")
    print("\ndemo:", "OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
