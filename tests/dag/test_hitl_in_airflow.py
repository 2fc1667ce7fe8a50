"""Human-in-the-loop tasks answered by message, and a DAG started by one, in real Airflow processes.

The scheduler, triggerer, dag-processor and api-server of Airflow run against a throwaway home with
the LocalExecutor; the api-server mounts the webhook receiver (and so the responder), and the
sandbox plays WhatsApp, SignalWire and the people who answer. Every wait is bounded.
"""

from __future__ import annotations

import json
import pathlib
import shutil
import time
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any, TypeVar

import httpx
import pytest

from tests.dag.airflow_processes import airflow_env, airflow_process, api_server, free_port, migrate

pytestmark = pytest.mark.dag

REPO = pathlib.Path(__file__).resolve().parents[2]
EXAMPLES = ("whatsapp_deploy_approval.py", "sms_hitl_branch.py", "inbound_message_queue.py")
APPROVER, STRANGER, ENGINEER, REQUESTER = "+15550002001", "+15550002009", "+15550001001", "+15550002007"
PASSWORDS = {"admin": "admin-pass-1", "messaging": "messaging-pass-2"}
T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, home: pathlib.Path) -> T:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {p.name}\n{p.read_text()[-2500:]}" for p in sorted(home.glob("*.log")))
            raise AssertionError(f"no {what} after {timeout:.0f} s\n{logs}")
        time.sleep(1.0)


class Airflow:
    """The public REST API as the admin."""

    def __init__(self, url: str) -> None:
        token = httpx.post(f"{url}/auth/token", json={"username": "admin", "password": PASSWORDS["admin"]})
        token.raise_for_status()
        self.http = httpx.Client(base_url=f"{url}/api/v2", timeout=30,
                                 headers={"Authorization": f"Bearer {token.json()['access_token']}"})  # fmt: skip

    def trigger(self, dag_id: str, conf: dict[str, Any]) -> str:
        answer = self.http.post(f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf})
        assert answer.status_code == 200, answer.text
        return str(answer.json()["dag_run_id"])

    def tasks(self, dag_id: str, run_id: str) -> dict[str, str]:
        answer = self.http.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
        return {ti["task_id"]: ti["state"] for ti in answer.json().get("task_instances", [])}

    def run_state(self, dag_id: str, run_id: str) -> str:
        return str(self.http.get(f"/dags/{dag_id}/dagRuns/{run_id}").json()["state"])

    def hitl(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
        answer = self.http.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/-1/hitlDetails")
        return dict(answer.json())

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        return list(self.http.get(f"/dags/{dag_id}/dagRuns").json().get("dag_runs", []))


def sandbox_messages(sandbox: Any, to: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{sandbox.url}/_sandbox/messages")
    return [m for m in answer.json()["messages"] if m["to"].lstrip("+") == to.lstrip("+")]


def texts_to(sandbox: Any, to: str) -> list[str]:
    return [
        m["payload"]["text"]["body"]
        for m in sandbox_messages(sandbox, to)
        if m["payload"].get("type") == "text"
    ]


@pytest.fixture
def sandbox():
    from messaging_sandbox.config import SandboxConfig
    from messaging_sandbox.server import SandboxServer

    with SandboxServer(
        SandboxConfig(port=0, sent_delay=0.05, delivered_delay=0.05, read_delay=0.05)
    ) as server:
        yield server


def test_hitl_tasks_answered_by_message_and_a_dag_started_by_one(tmp_path, sandbox):
    home, dags, port = tmp_path / "home", tmp_path / "dags", free_port()
    api = f"http://127.0.0.1:{port}"
    dags.mkdir()
    for name in EXAMPLES:
        shutil.copy(REPO / "example_dags" / name, dags / name)
    home.mkdir()
    (home / "passwords.json").write_text(json.dumps(PASSWORDS))
    env = airflow_env(
        home, dags,
        AIRFLOW__CORE__EXECUTOR="LocalExecutor",
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"{api}/execution/",
        AIRFLOW__API__BASE_URL=api,
        AIRFLOW__API_AUTH__JWT_SECRET="hitl-test-jwt-secret-" + "0123456789abcdef" * 4,
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin,messaging:user",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(home / "passwords.json"),
        AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="False",
        AIRFLOW__MESSAGING__STORE_URL=f"sqlite:///{tmp_path / 'store.db'}",
        AIRFLOW_CONN_WHATSAPP_DEFAULT=json.dumps({"conn_type": "whatsapp", "password": "sandbox-whatsapp-token",
            "extra": {"phone_number_id": "106500000000001", "waba_id": "200000000000001",
                      "app_secret": "sandbox-app-secret", "base_url": sandbox.url}}),
        AIRFLOW_CONN_SIGNALWIRE_DEFAULT=json.dumps({"conn_type": "signalwire", "host": "sandbox",
            "login": "sandbox-project", "password": "sandbox-token",
            "extra": {"signing_secret": "sandbox-signing-key", "from_number": "+15551230001", "base_url": sandbox.url}}),
        AIRFLOW_CONN_AIRFLOW_API_DEFAULT=json.dumps({"conn_type": "http", "host": api, "login": "messaging",
                                                     "password": PASSWORDS["messaging"]}),
    )  # fmt: skip
    migrate(env)
    httpx.put(
        f"{sandbox.url}/_sandbox/whatsapp/webhook-url",
        json={"url": f"{api}/messaging/whatsapp/whatsapp_default"},
    )

    with ExitStack() as running:
        running.enter_context(api_server(env, port))
        for component in ("dag-processor", "scheduler", "triggerer"):
            running.enter_context(airflow_process(env, component))
        airflow = Airflow(api)
        wait_for("parsed DAGs", lambda: all(airflow.http.get(f"/dags/{d}").status_code == 200 for d in
                 ("whatsapp_deploy_approval", "sms_hitl_branch", "deploy_on_whatsapp_message")), 180, home)  # fmt: skip

        # -- an ApprovalOperator answered on WhatsApp ------------------------------------------------
        dag_id = "whatsapp_deploy_approval"
        run_id = airflow.trigger(dag_id, {"on_call": APPROVER})
        wait_for("the approval task waiting", lambda: airflow.tasks(dag_id, run_id).get("approve_deploy")
                 == "awaiting_input", 240, home)  # fmt: skip
        question = wait_for("the question on WhatsApp", lambda: next(
            (m for m in sandbox_messages(sandbox, APPROVER) if m["payload"].get("type") == "interactive"), None), 60, home)  # fmt: skip
        buttons = question["payload"]["interactive"]["action"]["buttons"]
        assert [b["reply"]["title"] for b in buttons] == ["Approve", "Reject"]
        assert "Deploy 1.4.2 to production?" in question["payload"]["interactive"]["body"]["text"]
        assert f"{api}/dags/{dag_id}/runs/" in question["payload"]["interactive"]["body"]["text"]

        real_id = buttons[0]["reply"]["id"]
        forged = real_id.rsplit(".", 1)[0] + ".AAAAAAAAAAAAAAAAAAAAAA"
        httpx.post(f"{sandbox.url}/_sandbox/whatsapp/inbound",
                   json={"from": APPROVER, "text": "Approve", "button_id": forged}).raise_for_status()  # fmt: skip
        httpx.post(f"{sandbox.url}/_sandbox/whatsapp/tap",
                   json={"to": APPROVER, "title": "Approve", "from": STRANGER}).raise_for_status()  # fmt: skip
        wait_for("the forged tap refused", lambda: any("could not be verified" in t for t in texts_to(sandbox, APPROVER)), 60, home)  # fmt: skip
        wait_for("the stranger told", lambda: any("not among the people" in t for t in texts_to(sandbox, STRANGER)), 60, home)  # fmt: skip
        assert airflow.tasks(dag_id, run_id)["approve_deploy"] == "awaiting_input"
        assert airflow.hitl(dag_id, run_id, "approve_deploy")["response_received"] is False

        httpx.post(
            f"{sandbox.url}/_sandbox/whatsapp/tap", json={"to": APPROVER, "title": "Approve"}
        ).raise_for_status()
        wait_for(
            "the deploy run to succeed", lambda: airflow.run_state(dag_id, run_id) == "success", 240, home
        )
        assert airflow.tasks(dag_id, run_id) == {
            "build": "success",
            "approve_deploy": "success",
            "deploy": "success",
        }
        answered = airflow.hitl(dag_id, run_id, "approve_deploy")
        assert answered["chosen_options"] == ["Approve"]
        assert answered["responded_by_user"]["name"] == "messaging"
        assert answered["params_input"]["answered_by"] == f"On-call engineer (oncall), WhatsApp {APPROVER}"
        assert any(t.startswith("Thank you: Approve is recorded") for t in texts_to(sandbox, APPROVER))

        httpx.post(
            f"{sandbox.url}/_sandbox/whatsapp/tap", json={"to": APPROVER, "title": "Reject"}
        ).raise_for_status()
        wait_for("the second tap answered", lambda: any("was already answered (Approve by On-call engineer" in t
                                                         for t in texts_to(sandbox, APPROVER)), 60, home)  # fmt: skip
        assert airflow.hitl(dag_id, run_id, "approve_deploy") == answered

        # -- a HITLBranchOperator answered by SMS ------------------------------------------------------
        dag_id = "sms_hitl_branch"
        run_id = airflow.trigger(dag_id, {"engineer": ENGINEER})
        wait_for("the branch task waiting", lambda: airflow.tasks(dag_id, run_id).get("backfill_or_skip")
                 == "awaiting_input", 240, home)  # fmt: skip
        sms = wait_for("the question by SMS", lambda: next((m for m in sandbox_messages(sandbox, ENGINEER)
                                                            if "Backfill it now?" in (m["body"] or "")), None), 60, home)  # fmt: skip
        assert "Reply 1 for Backfill or 2 for Skip" in sms["body"]
        reply = httpx.post(f"{sandbox.url}/_sandbox/signalwire/sms", json={"from": ENGINEER, "to": "+15551230001",
                           "text": "2", "url": f"{api}/messaging/signalwire/signalwire_default"})  # fmt: skip
        assert reply.json()["response_status"] == 200, reply.text
        wait_for(
            "the branch run to succeed", lambda: airflow.run_state(dag_id, run_id) == "success", 240, home
        )
        assert airflow.tasks(dag_id, run_id) == {"backfill_or_skip": "success", "backfill": "skipped",
                                                 "skip_backfill": "success"}  # fmt: skip
        assert airflow.hitl(dag_id, run_id, "backfill_or_skip")["chosen_options"] == ["Skip"]

        # -- a DAG started by an inbound message through MessageQueueTrigger ---------------------------
        def started() -> list[dict[str, Any]] | None:
            runs = airflow.runs("deploy_on_whatsapp_message")
            if not runs:  # the watcher may not run in the triggerer yet: it sees messages after it starts
                httpx.post(
                    f"{sandbox.url}/_sandbox/whatsapp/inbound", json={"from": REQUESTER, "text": "deploy now"}
                )
                time.sleep(4)
            return [r for r in runs if r["state"] == "success"] or None

        wait_for("a run started by the message", started, 300, home)
        assert any(t.startswith("Deploy started") for t in texts_to(sandbox, REQUESTER))

    logs = [p for p in home.rglob("*.log")]
    assert any("task_id=approve_deploy" in str(p) for p in logs)
    assert not [p for p in logs if PASSWORDS["messaging"] in p.read_text()]  # the account's password
