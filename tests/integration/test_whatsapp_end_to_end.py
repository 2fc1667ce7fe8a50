"""WhatsApp end to end over loopback: operators -> sandbox -> signed webhooks -> receiver -> store -> sensor."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_messaging.core.errors import PermanentError
from airflow_provider_messaging.hooks.whatsapp import WhatsAppHook
from airflow_provider_messaging.operators.whatsapp import (
    WhatsAppSendMessageOperator,
    WhatsAppSendTemplateOperator,
)
from airflow_provider_messaging.sensors.whatsapp import WhatsAppMessageSensor
from airflow_provider_messaging.store.store import MessageStore
from airflow_provider_messaging.webhooks.receiver import create_webhook_app
from airflow_provider_messaging.whatsapp.messages import Buttons, ReplyButton
from messaging_sandbox.server import BackgroundServer
from tests.webhook_credentials import resolver, whatsapp

pytestmark = pytest.mark.integration


@pytest.fixture
def wa(sandbox, tmp_path, monkeypatch):
    c = sandbox.config
    store_url = f"sqlite:///{tmp_path / 'wa.db'}"
    store = MessageStore(store_url)
    secrets = {"whatsapp_default": whatsapp(c.whatsapp_app_secret, "v")}
    with BackgroundServer(create_webhook_app(store=store, credentials=resolver(secrets))) as receiver:
        httpx.post(f"{sandbox.url}/_sandbox/reset").raise_for_status()
        httpx.put(
            f"{sandbox.url}/_sandbox/whatsapp/webhook-url",
            json={"url": f"{receiver.url}/whatsapp/whatsapp_default"},
        )
        monkeypatch.setenv("AIRFLOW_CONN_WHATSAPP_DEFAULT", json.dumps({
            "conn_type": "whatsapp", "password": c.whatsapp_token,
            "extra": {"phone_number_id": c.whatsapp_phone_number_id, "waba_id": c.whatsapp_waba_id,
                      "base_url": sandbox.url, "app_secret": c.whatsapp_app_secret},
        }))  # fmt: skip
        yield {"sandbox": sandbox, "store": store, "store_url": store_url}
        httpx.put(f"{sandbox.url}/_sandbox/whatsapp/webhook-url", json={"url": None})
    store.dispose()


def accepted(sandbox):
    return httpx.get(f"{sandbox.url}/_sandbox/messages", params={"service": "whatsapp"}).json()["messages"]


def wait_for(sensor, attempts=300):
    for _ in range(attempts):
        result = sensor.poke({})
        if result.is_done:
            return result.xcom_value
        time.sleep(0.02)
    raise AssertionError("sensor never finished")


def test_text_then_gate_on_read(wa):
    ids = WhatsAppSendMessageOperator(
        task_id="send", to=["+15550002001", "+15550002005"], text="Report ready"
    ).execute({})
    states = wait_for(
        WhatsAppMessageSensor(
            task_id="wait", message_ids=ids, success_states=("read",), store_url=wa["store_url"]
        )
    )
    assert {s["state"] for s in states["messages"].values()} == {"read"}
    shuffled = ids[1]
    for _ in range(300):  # `read` came first and released the gate; `delivered` follows it
        events = [e["raw_status"] for e in wa["store"].events_for("whatsapp", shuffled)]
        if len(events) == 3:
            break
        time.sleep(0.02)
    assert events == ["sent", "read", "delivered"]  # each webhook came twice and was kept once
    assert wa["store"].get_statuses("whatsapp", [shuffled])[shuffled].state.value == "read"


def test_failed_delivery_fails_the_gate_with_the_code(wa):
    ids = WhatsAppSendMessageOperator(task_id="send", to="+15550002002", text="hi").execute({})
    with pytest.raises(AirflowFailException) as err:
        wait_for(WhatsAppMessageSensor(task_id="wait", message_ids=ids, store_url=wa["store_url"]))
    assert "is failed" in str(err.value) and "131026" in str(err.value)


def test_multi_device_delivery_counts_as_delivered(wa):
    ids = WhatsAppSendMessageOperator(task_id="send", to="+15550002006", text="hi").execute({})
    sensor = WhatsAppMessageSensor(task_id="wait", message_ids=ids, store_url=wa["store_url"])
    assert wait_for(sensor)["messages"][ids[0]]["state"] == "delivered"
    time.sleep(0.3)  # the later `failed` from the other device arrives; the state must not move down
    assert wa["store"].get_statuses("whatsapp", ids)[ids[0]].state.value == "delivered"


def test_closed_window_refuses_free_form_and_says_to_use_a_template(wa):
    with pytest.raises(AirflowFailException) as err:
        WhatsAppSendMessageOperator(task_id="send", to="+15550002003", text="hi").execute({})
    assert "131047" in str(err.value) and "send an approved template" in str(err.value)
    ids = WhatsAppSendTemplateOperator(
        task_id="t", to="+15550002003", template_name="hello_world", language="en_US"
    ).execute({})
    assert len(ids) == 1


def test_template_with_parameters_and_correlation(wa):
    ids = WhatsAppSendTemplateOperator(
        task_id="t", to="+15550002001", template_name="order_shipped", language="en_US",
        body_parameters=["Maria", "EUR 49.90", "tomorrow"],
        header_media={"type": "document", "link": "https://example.com/inv.pdf", "filename": "inv.pdf"},
        buttons=[{"sub_type": "url", "index": 1, "value": "7781"}], correlation_id="dag=weekly;run=1",
    ).execute({})  # fmt: skip
    (sent,) = accepted(wa["sandbox"])
    assert sent["payload"]["template"]["name"] == "order_shipped"
    wait_for(WhatsAppMessageSensor(task_id="wait", message_ids=ids, store_url=wa["store_url"]))
    events = wa["store"].events_for("whatsapp", ids[0])
    assert events and wa["store"].get_statuses("whatsapp", ids)[ids[0]].state.value in ("delivered", "read")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"template_name": "nope", "language": "en_US"}, "no template named 'nope'"),
     ({"template_name": "weekly_report", "language": "de"}, "has no 'de' version"),
     ({"template_name": "spring_promo", "language": "en_US", "body_parameters": ["20%"]}, "is PAUSED"),
     ({"template_name": "weekly_report", "language": "en_US", "body_parameters": ["only one"]}, "expects 2 body parameter(s), got 1"),
     ({"template_name": "delivery_update", "language": "en", "body_parameters": {"first_name": "M"}}, "missing ['eta']")],
)  # fmt: skip
def test_template_problems_are_caught_before_any_send(wa, kwargs, message):
    with pytest.raises(AirflowFailException) as err:
        WhatsAppSendTemplateOperator(task_id="t", to=["+15550002001", "+15550002004"], **kwargs).execute({})
    assert message in str(err.value)
    assert accepted(wa["sandbox"]) == []


def test_without_preflight_the_service_refuses_with_the_same_meaning(wa):
    with pytest.raises(AirflowFailException, match="132000"):
        WhatsAppSendTemplateOperator(task_id="t", to="+15550002001", template_name="weekly_report", language="en_US",
                                     body_parameters=["one"], check_template=False).execute({})  # fmt: skip


def test_interactive_buttons_and_dict_messages(wa):
    buttons = Buttons("Deploy 1.4.2?", [ReplyButton("approve", "Approve"), ReplyButton("reject", "Reject")])
    WhatsAppSendMessageOperator(task_id="b", to="+15550002001", message=buttons).execute({})
    WhatsAppSendMessageOperator(task_id="i", to="+15550002001",
                                message={"type": "image", "image": {"link": "https://e.com/c.png", "caption": "KPIs"}}).execute({})  # fmt: skip
    types = sorted(m["payload"]["type"] for m in accepted(wa["sandbox"]))
    assert types == ["image", "interactive"]


def test_bad_input_fails_before_any_request(wa):
    for kwargs in (
        {"to": "12345", "text": "x"},
        {"to": "+15550002001", "text": "x" * 4097},
        {"to": "+15550002001"},
    ):
        with pytest.raises(AirflowFailException):
            WhatsAppSendMessageOperator(task_id="s", **kwargs).execute({})
    assert accepted(wa["sandbox"]) == []


def test_inbound_reply_reaches_the_store(wa):
    sandbox = wa["sandbox"]
    since = time.time() - 1
    wamid = httpx.post(
        f"{sandbox.url}/_sandbox/whatsapp/inbound", json={"from": "+15550002001", "text": "YES"}
    ).json()["id"]
    (reply,) = wa["store"].inbound_since("whatsapp", since=since, senders=["15550002001"])
    assert (reply.message_id, reply.text) == (wamid, "YES")


def test_connection_test_against_the_sandbox(wa, monkeypatch):
    ok, message = WhatsAppHook().test_connection()
    templates = httpx.get(f"{wa['sandbox'].url}/_sandbox/whatsapp/templates").json()["data"]
    assert ok and f"{len(templates)} template(s)" in message
    conn = json.loads(__import__("os").environ["AIRFLOW_CONN_WHATSAPP_DEFAULT"])
    conn["password"] = "wrong"
    monkeypatch.setenv("AIRFLOW_CONN_WHATSAPP_DEFAULT", json.dumps(conn))
    ok, message = WhatsAppHook().test_connection()
    assert not ok and "190" in message and "wrong" not in message


# -- business-scoped user ids and files ------------------------------------------------------------

USER_ID_ONLY = "US.15550002008"  # the sandbox's user known only by user id


def generated_pdf(tmp_path, name="report.pdf"):
    from example_dags.whatsapp_pdf_report import pdf_bytes

    path = tmp_path / name
    path.write_bytes(pdf_bytes(["Daily report", "Rows loaded: 42"]))
    return path


def test_a_generated_pdf_reaches_a_user_id_as_a_document_and_is_gated_on_delivery(wa, tmp_path):
    pdf = generated_pdf(tmp_path)
    ids = WhatsAppSendMessageOperator(
        task_id="s", to=USER_ID_ONLY, media_path=str(pdf), caption="Week 32"
    ).execute({})
    (sent,) = accepted(wa["sandbox"])
    assert sent["to"] == USER_ID_ONLY and sent["payload"]["recipient"] == USER_ID_ONLY
    document = sent["payload"]["document"]
    assert (document["filename"], document["caption"]) == ("report.pdf", "Week 32")
    assert sent["media"] == [f"report.pdf (application/pdf, {pdf.stat().st_size} bytes)"]  # the uploaded file
    gate = wait_for(WhatsAppMessageSensor(task_id="w", message_ids=ids, store_url=wa["store_url"]))
    assert gate["messages"][ids[0]]["to"] == USER_ID_ONLY  # stored and gated by user id
    assert (
        WhatsAppHook().download_media(document["id"], tmp_path / "back.pdf").read_bytes() == pdf.read_bytes()
    )


def test_a_template_header_file_and_a_broadcast_upload_once(wa, tmp_path):
    from airflow_provider_messaging.operators.broadcast import WhatsAppTemplateBroadcastOperator

    pdf = generated_pdf(tmp_path, "invoice.pdf")
    params = {"template_name": "order_shipped", "language": "en_US", "media_path": f"file://{pdf}",
              "buttons": [{"sub_type": "url", "index": 1, "value": "7781"}]}  # fmt: skip
    WhatsAppSendTemplateOperator(task_id="t", to="+15550002001", body_parameters=["Maria", "EUR 49.90", "today"],
                                 **params).execute({})  # fmt: skip
    rows = [
        {"to": to, "parameters": ["Max", "EUR 9.90", "tomorrow"]}
        for to in ("+15550002001", USER_ID_ONLY, "+4915112345678")
    ]
    WhatsAppTemplateBroadcastOperator(task_id="b", recipients=rows, pacing=False, **params).execute({})
    headers = [
        m["payload"]["template"]["components"][0]["parameters"][0]["document"]
        for m in accepted(wa["sandbox"])
    ]
    assert [h["filename"] for h in headers] == ["invoice.pdf"] * 4
    assert len({h["id"] for h in headers[1:]}) == 1  # the broadcast uploaded once for every row


def test_a_reply_with_a_file_from_a_user_id_is_found_and_downloaded(wa, tmp_path):
    import base64

    from airflow_provider_messaging.sensors.inbound import WhatsAppMessageReceivedSensor

    sensor = WhatsAppMessageReceivedSensor(task_id="r", from_numbers=USER_ID_ONLY, store_url=wa["store_url"])
    sensor._since = time.time() - 1
    scan = {"type": "document", "mime_type": "application/pdf", "filename": "signed.pdf",
            "content_base64": base64.b64encode(b"%PDF-1.4 signed").decode()}  # fmt: skip
    httpx.post(f"{wa['sandbox'].url}/_sandbox/whatsapp/inbound",
               json={"from": USER_ID_ONLY, "media": scan, "text": "signed"}).raise_for_status()  # fmt: skip
    reply = wait_for(sensor)
    assert (reply["from"], reply["user_id"], reply["username"]) == (
        USER_ID_ONLY,
        USER_ID_ONLY,
        "sandbox.nophone",
    )
    assert (reply["type"], reply["text"], reply["media"]["mime_type"]) == (
        "document",
        "signed",
        "application/pdf",
    )
    written = WhatsAppHook().download_media(reply["media"]["id"], f"file://{tmp_path}/inbox/")
    assert written.read_bytes() == b"%PDF-1.4 signed" and written.name == f"{reply['media']['id']}.pdf"


def test_a_file_meta_refuses_is_reported_with_metas_words(wa, tmp_path):
    from airflow_provider_messaging.whatsapp.media import MediaFile

    exe = tmp_path / "tool.exe"
    exe.write_bytes(b"MZ")
    with pytest.raises(PermanentError) as err:
        WhatsAppHook().client.upload_media(
            MediaFile(exe, "tool.exe", "application/x-msdownload", 2, "document")
        )
    assert "code 100" in str(
        err.value
    ) and "Param file must be a file with one of the following types" in str(err.value)
