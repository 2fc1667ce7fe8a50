"""The webhook receiver: handshake, signatures, bodies, store writes, and the sandbox's signed callbacks."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from airflow_provider_messaging.core.states import MessageState
from airflow_provider_messaging.signalwire.webhooks import form_signature as signalwire_form_signature
from airflow_provider_messaging.store.store import MessageStore
from airflow_provider_messaging.webhooks.receiver import create_webhook_app
from airflow_provider_messaging.whatsapp.webhooks import signature as whatsapp_signature
from messaging_sandbox.server import BackgroundServer
from tests.webhook_credentials import resolver, signalwire, whatsapp

pytestmark = pytest.mark.integration

SECRETS = {
    "whatsapp_default": whatsapp("app-secret-1", "verify-me"),
    "signalwire_default": signalwire("sandbox-signing-key"),
}


@pytest.fixture
def store(tmp_path):
    s = MessageStore(f"sqlite:///{tmp_path / 'hooks.db'}")
    yield s
    s.dispose()


@pytest.fixture
def client(store):
    return TestClient(create_webhook_app(store=store, credentials=resolver(SECRETS)))


def status_body(wamid, status, ts="1754038501", **extra):
    return json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "W", "changes": [{"field": "messages",
        "value": {"metadata": {"phone_number_id": "1065"}, "statuses": [
            {"id": wamid, "status": status, "timestamp": ts, "recipient_id": "49151", **extra}]}}]}]}).encode()  # fmt: skip


def post_whatsapp(client, body, secret="app-secret-1", conn="whatsapp_default"):
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Hub-Signature-256"] = whatsapp_signature(secret, body)
    return client.post(f"/whatsapp/{conn}", content=body, headers=headers)


def test_verification_handshake(client):
    ok = client.get("/whatsapp/whatsapp_default", params={"hub.mode": "subscribe", "hub.verify_token": "verify-me",
                                                            "hub.challenge": "1158201444"})  # fmt: skip
    assert ok.status_code == 200 and ok.text == "1158201444"
    bad = client.get("/whatsapp/whatsapp_default", params={"hub.mode": "subscribe", "hub.verify_token": "nope",
                                                             "hub.challenge": "1"})  # fmt: skip
    assert bad.status_code == 403
    assert client.get("/whatsapp/unknown_conn").status_code == 404


def test_signed_statuses_reach_the_store_and_duplicates_are_ignored(client, store):
    assert post_whatsapp(client, status_body("wamid.A", "sent", "1")).json() == {"statuses": 1, "inbound": 0}
    assert post_whatsapp(client, status_body("wamid.A", "read", "3")).status_code == 200
    assert post_whatsapp(client, status_body("wamid.A", "delivered", "2")).status_code == 200
    assert post_whatsapp(client, status_body("wamid.A", "delivered", "2")).json() == {
        "statuses": 0,
        "inbound": 0,
    }
    assert store.get_statuses("whatsapp", ["wamid.A"])["wamid.A"].state is MessageState.READ


@pytest.mark.parametrize(("secret", "status"), [(None, 401), ("forged-secret", 403)])
def test_unsigned_or_forged_requests_write_nothing(client, store, secret, status):
    assert post_whatsapp(client, status_body("wamid.F", "delivered"), secret=secret).status_code == status
    assert store.get_statuses("whatsapp", ["wamid.F"]) == {}


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"entry": "x"}'])
def test_malformed_bodies_get_400_not_500(client, body):
    assert post_whatsapp(client, body).status_code == 400


def test_oversized_bodies_are_refused(store):
    small = TestClient(create_webhook_app(store=store, credentials=resolver(SECRETS), max_body_bytes=100))
    assert post_whatsapp(small, status_body("wamid.Big", "sent") + b" " * 200).status_code == 413


def test_store_outage_answers_503_so_the_service_retries():
    down = MessageStore("postgresql+psycopg://postgres@127.0.0.1:1/nowhere")  # nothing listens there
    broken = TestClient(create_webhook_app(store=down, credentials=resolver(SECRETS)))
    assert post_whatsapp(broken, status_body("wamid.X", "sent")).status_code == 503


def test_signalwire_callback_signatures_are_checked(client, store):
    url = "http://testserver/signalwire/signalwire_default"
    params = [("MessageSid", "sid-1"), ("MessageStatus", "delivered"), ("To", "+15550001001")]
    signature = signalwire_form_signature("sandbox-signing-key", url, params)
    form = "MessageSid=sid-1&MessageStatus=delivered&To=%2B15550001001"
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    assert (
        client.post(
            "/signalwire/signalwire_default",
            content=form,
            headers={**headers, "X-Twilio-Signature": signature},
        ).status_code
        == 200
    )
    assert store.get_statuses("signalwire", ["sid-1"])["sid-1"].state is MessageState.DELIVERED
    forged = {**headers, "X-SignalWire-Signature": signature}
    assert (
        client.post(
            "/signalwire/signalwire_default", content=form.replace("delivered", "failed"), headers=forged
        ).status_code
        == 403
    )


def test_native_json_callbacks_are_accepted_with_either_signature_header(client, store):
    import hashlib
    import json

    from airflow_provider_messaging.signalwire.webhooks import json_signature

    url = "http://testserver/signalwire/signalwire_default"
    body = json.dumps({"id": "n-1", "status": "undelivered", "to": "+15550001002", "error_code": "carrier_violation",
                       "error_message": "spam", "timestamp": "2026-03-17T22:26:57Z", "custom_variables": {"run": "r"}})  # fmt: skip
    key, headers = "sandbox-signing-key", {"Content-Type": "application/json"}
    sha256 = json_signature(key, url, body.encode(), hashlib.sha256)
    only_sha256 = client.post(url, content=body, headers={**headers, "X-SignalWire-Sha256-Signature": sha256})
    assert only_sha256.status_code == 200
    found = store.get_statuses("signalwire", ["n-1"])["n-1"]
    assert (found.state, found.error_code) == (MessageState.UNDELIVERED, "carrier_violation")
    sha1 = {**headers, "X-SignalWire-Signature": json_signature(key, url, body.encode())}
    assert client.post(url, content=body, headers=sha1).json() == {
        "statuses": 0,
        "inbound": 0,
    }  # the same event
    assert client.post(url, content="[1, 2]", headers=sha1).status_code == 403
    listed = "[1, 2]"
    signed_list = {**headers, "X-SignalWire-Signature": json_signature(key, url, listed.encode())}
    assert client.post(url, content=listed, headers=signed_list).status_code == 400


def test_sandbox_status_callbacks_land_in_the_store(sandbox, store):
    httpx.post(f"{sandbox.url}/_sandbox/reset").raise_for_status()
    secrets = {"signalwire_default": signalwire(sandbox.config.signing_key)}
    with BackgroundServer(create_webhook_app(store=store, credentials=resolver(secrets))) as receiver:
        api = f"{sandbox.url}/api/laml/2010-04-01/Accounts/{sandbox.config.signalwire_project}/Messages.json"
        auth = (sandbox.config.signalwire_project, sandbox.config.signalwire_token)
        callback = f"{receiver.url}/signalwire/signalwire_default"
        sids = {
            to: httpx.post(api, auth=auth, data={"To": to, "From": "+15551230001", "Body": "x", "StatusCallback": callback}).json()["sid"]
            for to in ("+15550001001", "+15550001002")
        }  # fmt: skip
        for _ in range(200):
            found = store.get_statuses("signalwire", list(sids.values()))
            if len(found) == 2 and all(o.state.rank >= MessageState.FAILED.rank for o in found.values()):
                break
            time.sleep(0.02)
    assert found[sids["+15550001001"]].state is MessageState.DELIVERED
    undelivered = found[sids["+15550001002"]]
    assert (undelivered.state, undelivered.error_code) == (MessageState.UNDELIVERED, "30003")
    callbacks = httpx.get(f"{sandbox.url}/_sandbox/callbacks").json()["callbacks"]
    assert {c["response_status"] for c in callbacks} == {200}


def test_the_connections_status_callback_makes_sms_gating_use_pushed_statuses(sandbox, store, monkeypatch):
    """Status callback URL on the connection: every send reports to the receiver, and the store-backed
    sensor passes without polling SignalWire."""
    from airflow_provider_messaging.operators.signalwire import SignalWireSendMessageOperator
    from airflow_provider_messaging.sensors.signalwire import SignalWireMessageSensor

    httpx.post(f"{sandbox.url}/_sandbox/reset").raise_for_status()
    c = sandbox.config
    secrets = {"signalwire_default": signalwire(c.signing_key)}
    with BackgroundServer(create_webhook_app(store=store, credentials=resolver(secrets))) as receiver:
        monkeypatch.setenv("AIRFLOW_CONN_SIGNALWIRE_DEFAULT", json.dumps({
            "conn_type": "signalwire", "host": "sandbox", "login": c.signalwire_project, "password": c.signalwire_token,
            "extra": {"base_url": sandbox.url, "from_number": "+15551230001",
                      "status_callback": f"{receiver.url}/signalwire/signalwire_default"}}))  # fmt: skip
        ids = SignalWireSendMessageOperator(task_id="send", to="+15550001001", body="pushed").execute({})
        gate = SignalWireMessageSensor(task_id="gate", message_ids=ids, source="store", store_url=store.url)
        for _ in range(200):
            result = gate.poke({})
            if result.is_done:
                break
            time.sleep(0.02)
    assert result.is_done and result.xcom_value["counts"] == {"delivered": 1}
    callbacks = httpx.get(f"{sandbox.url}/_sandbox/callbacks").json()["callbacks"]
    assert callbacks and all(c["url"].endswith("/signalwire/signalwire_default") for c in callbacks)


def test_the_receiver_mounted_under_a_prefix_takes_signed_posts(store):
    """As in airflow api-server: the app mounted at /messaging; the POST routes are matched below it."""
    from fastapi import FastAPI

    parent = FastAPI()
    parent.mount("/messaging", create_webhook_app(store=store, credentials=resolver(SECRETS)))
    mounted = TestClient(parent)
    body = status_body("wamid.M1", "delivered")
    headers = {"X-Hub-Signature-256": whatsapp_signature("app-secret-1", body)}
    assert (
        mounted.post("/messaging/whatsapp/whatsapp_default", content=body, headers=headers).status_code == 200
    )
    assert mounted.post("/whatsapp/whatsapp_default", content=body, headers=headers).status_code == 404
    assert mounted.post("/messaging/whatsapp/a/b", content=body, headers=headers).status_code in (404, 405)
    assert store.get_statuses("whatsapp", ["wamid.M1"])["wamid.M1"].state is MessageState.DELIVERED


def test_the_console_command_builds_its_app_in_each_worker(tmp_path, monkeypatch):
    from airflow_provider_messaging import cli
    from airflow_provider_messaging.webhooks.receiver import WebhookApp

    monkeypatch.setenv(cli.STORE_URL_VARIABLE, f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv(cli.NAME_VARIABLE, "test receiver")
    app = cli.webhook_app()
    assert isinstance(app, WebhookApp) and app.receiver.name == "test receiver"
    assert app.receiver.store.url.endswith("cli.db")
