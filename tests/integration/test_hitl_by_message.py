"""HITL notifiers and the responder over loopback: the notifier asks through the sandbox, the sandbox
user answers, the webhook receiver stores the reply, the responder records it (Airflow's REST API
is a fake here; ``tests/dag/test_hitl_in_airflow.py`` runs the real one)."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace

import httpx
import pytest
from airflow.providers.standard.operators.hitl import ApprovalOperator, HITLBranchOperator
from airflow.sdk import Param

from airflow_provider_messaging.core.errors import ConfigurationError, ValidationError
from airflow_provider_messaging.core.hitl import TaskRef
from airflow_provider_messaging.hitl.responder import ConnectionAccess, Responder
from airflow_provider_messaging.notifications.hitl import SignalWireHITLNotifier, WhatsAppHITLNotifier
from airflow_provider_messaging.store.hitl import QuestionStore
from airflow_provider_messaging.store.store import MessageStore
from airflow_provider_messaging.webhooks.receiver import create_webhook_app
from messaging_sandbox.server import BackgroundServer
from tests.fake_airflow_api import FakeAirflow, fake_api
from tests.webhook_credentials import resolver, signalwire, whatsapp

pytestmark = pytest.mark.integration
RUN_ID = "manual__2026-11-30T10:00:00+00:00"
CLOSED_WINDOW, ENGINEER = "+15550002003", "+15550001001"


class Access(ConnectionAccess):
    """The connections as the responder reads them, but Airflow's API is the fake."""

    def __init__(self, airflow: FakeAirflow) -> None:
        super().__init__()
        self._fake = fake_api(airflow)

    def api(self, conn_id):
        return self._fake


@pytest.fixture
def env(sandbox, tmp_path, monkeypatch):
    c = sandbox.config
    store_url = f"sqlite:///{tmp_path / 'hitl.db'}"
    store = MessageStore(store_url)
    secrets = {
        "whatsapp_default": whatsapp(c.whatsapp_app_secret),
        "signalwire_default": signalwire(c.signing_key),
    }
    monkeypatch.setenv("AIRFLOW__MESSAGING__STORE_URL", store_url)
    monkeypatch.setenv("AIRFLOW_CONN_WHATSAPP_DEFAULT", json.dumps({"conn_type": "whatsapp",
        "password": c.whatsapp_token, "extra": {"phone_number_id": c.whatsapp_phone_number_id,
        "waba_id": c.whatsapp_waba_id, "app_secret": c.whatsapp_app_secret, "base_url": sandbox.url}}))  # fmt: skip
    monkeypatch.setenv("AIRFLOW_CONN_SIGNALWIRE_DEFAULT", json.dumps({"conn_type": "signalwire", "host": "sandbox",
        "login": c.signalwire_project, "password": c.signalwire_token,
        "extra": {"signing_key": c.signing_key, "from_number": "+15551230001", "base_url": sandbox.url}}))  # fmt: skip
    monkeypatch.setenv("AIRFLOW_CONN_AIRFLOW_API_DEFAULT", "http://messaging:pw@airflow:8080")
    with BackgroundServer(create_webhook_app(store=store, credentials=resolver(secrets))) as server:
        httpx.post(f"{sandbox.url}/_sandbox/reset").raise_for_status()
        httpx.put(
            f"{sandbox.url}/_sandbox/whatsapp/webhook-url",
            json={"url": f"{server.url}/whatsapp/whatsapp_default"},
        )
        yield SimpleNamespace(sandbox=sandbox, receiver=server.url, store=store)
        httpx.put(f"{sandbox.url}/_sandbox/whatsapp/webhook-url", json={"url": None})
    store.dispose()


def context(task):
    ti = SimpleNamespace(dag_id="deploy", run_id=RUN_ID, task_id=task.task_id, map_index=-1, try_number=1)
    return {"task": task, "ti": ti, "task_instance": ti, "run_id": RUN_ID, "params": {}}


def approval(**kwargs):
    return ApprovalOperator(task_id="approve", subject="Deploy 1.4.2?", body="Checks passed.", **kwargs)


def sent_to(env, number):
    messages = httpx.get(f"{env.sandbox.url}/_sandbox/messages").json()["messages"]
    return [m for m in messages if m["to"].lstrip("+") == number.lstrip("+")]


def handle_replies(env, airflow, until, seconds=20.0):
    responder = Responder(env.store, Access(airflow), max_age=3600)
    deadline = time.monotonic() + seconds
    while not until() and time.monotonic() < deadline:
        responder.poll()
        time.sleep(0.1)
    return responder


def test_outside_the_window_the_template_is_sent_and_its_quick_reply_answers(env):
    task = approval(assigned_users=[{"id": "alice", "name": "Alice"}, {"id": "messaging", "name": "By message"}],
                    params={"answered_by": Param("", type="string")})  # fmt: skip
    notifier = WhatsAppHITLNotifier(to={"alice": CLOSED_WINDOW}, template_name="hitl_question",
                                    sender_param="answered_by", base_url="http://airflow.example")  # fmt: skip
    notifier(context(task))
    (template,) = [m for m in sent_to(env, CLOSED_WINDOW) if m["payload"]["type"] == "template"]
    body, *buttons = template["payload"]["template"]["components"]
    assert body["parameters"] == [{"type": "text", "text": "Deploy 1.4.2?"}]
    assert [b["sub_type"] for b in buttons] == ["quick_reply", "quick_reply"]
    assert not [
        m for m in sent_to(env, CLOSED_WINDOW) if m["payload"]["type"] == "interactive"
    ]  # refused: 131047

    httpx.post(
        f"{env.sandbox.url}/_sandbox/whatsapp/tap", json={"to": CLOSED_WINDOW, "title": "Approve"}
    ).raise_for_status()
    airflow = FakeAirflow(TaskRef("deploy", RUN_ID, "approve"))
    handle_replies(env, airflow, lambda: bool(airflow.patches))
    assert airflow.patches == [{"chosen_options": ["Approve"], "params_input": {
        "answered_by": f"Alice (alice), WhatsApp {CLOSED_WINDOW}", "ticket": "OPS-1"}}]  # fmt: skip


def test_an_sms_question_is_answered_with_a_number(env):
    task = HITLBranchOperator(task_id="choose", subject="Backfill yesterday?", body="40 minutes.",
                              options=["Backfill", "Skip"])  # fmt: skip
    SignalWireHITLNotifier(to=ENGINEER, base_url="http://airflow.example")(context(task))
    (question,) = sent_to(env, ENGINEER)
    code = QuestionStore(env.store).recent(0)[0].code
    assert question["body"] == (
        "Airflow needs your answer: Backfill yesterday?\n40 minutes.\n"
        f"Reply 1 for Backfill or 2 for Skip. (ref {code})\n"
        f"Or answer in Airflow: http://airflow.example/dags/deploy/runs/{RUN_ID}/tasks/choose/required_actions?map_index=-1"
    )
    answer = httpx.post(f"{env.sandbox.url}/_sandbox/signalwire/sms", json={"from": ENGINEER, "to": "+15551230001",
                        "text": "2", "url": f"{env.receiver}/signalwire/signalwire_default"})  # fmt: skip
    assert answer.json()["response_status"] == 200
    airflow = FakeAirflow(TaskRef("deploy", RUN_ID, "choose"))
    handle_replies(env, airflow, lambda: len(sent_to(env, ENGINEER)) > 1)
    assert airflow.patches == [{"chosen_options": ["Skip"], "params_input": {}}]
    thanks = sent_to(env, ENGINEER)[-1]
    assert (thanks["from"], thanks["body"]) == (
        "+15551230001",
        'Thank you: Skip is recorded for "Backfill yesterday?".',
    )


def test_asking_again_in_the_same_try_sends_nothing_twice(env):
    task = approval()
    notifier = WhatsAppHITLNotifier(to="+15550002001")
    notifier(context(task))
    WhatsAppHITLNotifier(to="+15550002001")(context(task))
    assert len(sent_to(env, "+15550002001")) == 1
    assert len(QuestionStore(env.store).recent(0)) == 1


def test_one_task_asked_on_whatsapp_and_by_sms_has_a_question_on_each(env):
    task = approval()
    WhatsAppHITLNotifier(to="+15550002001")(context(task))
    SignalWireHITLNotifier(to=ENGINEER)(context(task))
    asked = QuestionStore(env.store).recent(0)
    assert sorted(q.service for q in asked) == ["signalwire", "whatsapp"]
    assert len({q.id for q in asked}) == 2


def test_what_is_wrong_is_said_before_anything_is_sent(env, monkeypatch):
    assigned = [{"id": "alice", "name": "Alice"}]
    with pytest.raises(
        ValidationError, match=r"to: is a list of numbers, but the task has assigned_users \['alice'\]"
    ):
        WhatsAppHITLNotifier(to="+15550002001")(context(approval(assigned_users=assigned)))
    with pytest.raises(ValidationError, match="to: has a number for none of the task's assigned users"):
        WhatsAppHITLNotifier(to={"bob": "+15550002001"})(context(approval(assigned_users=assigned)))
    with pytest.raises(ValidationError, match="sender_param: the task declares no param 'answered_by'"):
        WhatsAppHITLNotifier(to="+15550002001", sender_param="answered_by")(context(approval()))
    with pytest.raises(
        ValidationError, match="notifiers: SimpleNamespace is not a human-in-the-loop operator"
    ):
        WhatsAppHITLNotifier(to="+15550002001")({"task": SimpleNamespace(), "ti": None})
    monkeypatch.delenv("AIRFLOW_CONN_AIRFLOW_API_DEFAULT")
    with pytest.raises(ConfigurationError, match="No Airflow connection named 'airflow_api_default'"):
        WhatsAppHITLNotifier(to="+15550002001")(context(approval()))
    assert sent_to(env, "+15550002001") == []
