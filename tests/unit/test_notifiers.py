from __future__ import annotations

import json
from types import SimpleNamespace
from urllib.parse import parse_qs

import httpx
import pytest
import respx
from airflow.sdk import DAG

from airflow_provider_messaging.core.errors import (
    AuthenticationError,
    RecipientError,
    TemplateError,
    ValidationError,
    WindowClosedError,
)
from airflow_provider_messaging.notifications.signalwire import (
    SignalWireNotifier,
    send_signalwire_notification,
)
from airflow_provider_messaging.notifications.whatsapp import WhatsAppNotifier

SW = "https://example.signalwire.com/api/laml/2010-04-01/Accounts/p1/Messages.json"
WA = "https://graph.facebook.com/v25.0/1065/messages"
OK = {"messages": [{"id": "wamid.N"}], "contacts": [{"wa_id": "15550002001"}]}


@pytest.fixture(autouse=True)
def conns(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SIGNALWIRE_DEFAULT", json.dumps({
        "conn_type": "signalwire", "host": "example.signalwire.com", "login": "p1", "password": "PT-x",
        "extra": {"from_number": "+15551230001"}}))  # fmt: skip
    monkeypatch.setenv("AIRFLOW_CONN_WHATSAPP_DEFAULT", json.dumps({
        "conn_type": "whatsapp", "password": "EAAG-x", "extra": {"phone_number_id": "1065"}}))  # fmt: skip


def context():
    ti = SimpleNamespace(task_id="load", try_number=2, log_url="http://airflow/log?x=1")
    return {
        "ti": ti,
        "dag": DAG("nightly", schedule=None),
        "run_id": "manual__1",
        "params": {"on_call": "+15550001001"},
    }


@respx.mock
def test_default_failure_text_names_dag_task_try_and_log():
    route = respx.post(SW).respond(201, json={"sid": "s1", "status": "queued"})
    send_signalwire_notification(to="{{ params.on_call }}")(context())
    form = parse_qs(route.calls.last.request.content.decode())
    assert form["To"] == ["+15550001001"]
    assert form["Body"] == [
        "Airflow: task load failed in DAG nightly (try 2, run manual__1). Log: http://airflow/log?x=1"
    ]


@respx.mock
def test_a_failed_send_raises_with_the_reason():
    respx.post(SW).respond(
        401, json={"code": 20003, "message": "Authentication Error", "more_info": "", "status": 401}
    )
    with pytest.raises(AuthenticationError, match="API Token"):
        SignalWireNotifier(to="+15550001001", body="x")(context())


@respx.mock
def test_the_native_api_carries_custom_variables():
    route = respx.post("https://example.signalwire.com/api/messaging/messages").respond(
        201, json={"id": "n1", "status": "queued", "to": "+15550001001"}
    )
    SignalWireNotifier(to="+15550001001", body="x", api="native", custom_variables={"dag": "nightly"})(
        context()
    )
    assert json.loads(route.calls.last.request.content) == {
        "to": "+15550001001", "from": "+15551230001", "body": "x", "custom_variables": {"dag": "nightly"}}  # fmt: skip
    with pytest.raises(ValueError, match="api must be 'rest' or 'native'"):
        SignalWireNotifier(to="+15550001001", api="relay")


def test_bad_numbers_are_refused_before_sending():
    with pytest.raises(ValidationError, match="to"):
        SignalWireNotifier(to="555", body="x")(context())


@respx.mock
async def test_async_path_sends_the_same_message():
    route = respx.post(SW).respond(201, json={"sid": "s2", "status": "queued"})
    notifier = SignalWireNotifier(to="+15550001001", body="late: {{ run_id }}", context=context())
    await notifier
    assert parse_qs(route.calls.last.request.content.decode())["Body"] == ["late: manual__1"]


@respx.mock
def test_whatsapp_text_and_template_notifications():
    route = respx.post(WA).respond(200, json=OK)
    WhatsAppNotifier(to="+15550002001")(context())
    assert json.loads(route.calls.last.request.content)["text"]["body"].startswith(
        "Airflow: task load failed in DAG nightly"
    )
    WhatsAppNotifier(to="+15550002001", template_name="task_failed", body_parameters=["{{ ti.task_id }}"])(
        context()
    )
    sent = json.loads(route.calls.last.request.content)
    assert sent["template"]["components"][0]["parameters"] == [{"type": "text", "text": "load"}]


@respx.mock
def test_whatsapp_window_closed_is_reported():
    respx.post(WA).respond(400, json={"error": {"code": 131047, "message": "Re-engagement message"}})
    with pytest.raises(WindowClosedError, match="send an approved template"):
        WhatsAppNotifier(to="+15550002001", text="x")(context())


@respx.mock
async def test_whatsapp_async_path():
    route = respx.post(WA).respond(200, json=OK)
    await WhatsAppNotifier(to="+15550002001", text="hi {{ run_id }}", context=context())
    assert json.loads(route.calls.last.request.content)["text"]["body"] == "hi manual__1"
    assert isinstance(route.calls.last.response, httpx.Response)


@respx.mock
def test_a_whatsapp_template_alert_is_checked_before_sending_when_the_connection_has_a_waba(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_WHATSAPP_DEFAULT", json.dumps({
        "conn_type": "whatsapp", "password": "EAAG-x", "extra": {"phone_number_id": "1065", "waba_id": "2000"}}))  # fmt: skip
    respx.get("https://graph.facebook.com/v25.0/2000/message_templates").respond(200, json={"data": [
        {"name": "task_failed", "language": "en_US", "status": "PAUSED", "components": []}]})  # fmt: skip
    send = respx.post(WA).respond(200, json=OK)
    with pytest.raises(TemplateError, match="PAUSED"):
        WhatsAppNotifier(to="+15550002001", template_name="task_failed")(context())
    assert send.call_count == 0


@respx.mock
def test_a_failed_alert_is_logged_with_the_services_error(capfd, caplog):
    respx.post(WA).respond(400, json={"error": {"code": 131026, "message": "Message undeliverable"}})
    with pytest.raises(RecipientError):
        WhatsAppNotifier(to="+15550002001", text="x")(context())
    logged = capfd.readouterr().out + caplog.text  # Airflow's structured log, or plain logging
    assert "the notification was not sent" in logged and "131026" in logged
