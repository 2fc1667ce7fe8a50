"""The native Messaging API and the message logs: documented shapes, codes, paging and callbacks."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable

import httpx
import pytest

from messaging_sandbox.config import SandboxConfig

CONFIG = SandboxConfig()
AUTH = (CONFIG.signalwire_project, CONFIG.signalwire_token)
MESSAGES, LOGS = "/api/messaging/messages", "/api/messaging/logs"
COMPAT = f"/api/laml/2010-04-01/Accounts/{CONFIG.signalwire_project}/Messages.json"
SENDER = "+15551230001"
ERROR_KEYS = {"type", "code", "message", "attribute", "url"}


def wait_for(check: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_send_is_created_queued_and_ends_delivered_in_the_logs(client):
    created = client.post(MESSAGES, json={"to": "+15550001001", "from": SENDER, "body": "hi"}, auth=AUTH)
    assert created.status_code == 201
    message = created.json()
    assert (message["status"], message["direction"], message["kind"], message["number_of_segments"]) == (
        "queued", "outbound", "sms", 1)  # fmt: skip
    assert (
        message["message_uri"] == f"{LOGS}/{message['id']}"
        and message["project_id"] == CONFIG.signalwire_project
    )
    wait_for(lambda: client.get(f"{LOGS}/{message['id']}", auth=AUTH).json()["status"] == "delivered")
    entry = client.get(f"{LOGS}/{message['id']}", auth=AUTH).json()
    assert (entry["source"], entry["type"], entry["url"], entry["error_code"]) == (
        "realtime_api", "relay_message", None, None)  # fmt: skip


@pytest.mark.parametrize(
    ("request_body", "code", "attribute"),
    [
        ({"from": SENDER, "body": "x"}, "missing_required_parameter", "to"),
        ({"to": "555-0001", "from": SENDER, "body": "x"}, "invalid_to_number", "to"),
        ({"to": "+15550001001", "from": "me", "body": "x"}, "invalid_from_number", "from"),
        ({"to": "+15550001001", "from": SENDER}, "body_or_media_required", "body"),
        ({"to": "+15550001001", "from": SENDER, "body": "x" * 1601}, "character_limit_exceeded", "body"),
        ({"to": "+15550001001", "from": SENDER, "media": [f"https://e.com/{i}" for i in range(9)]}, "media_limit_exceeded", "media"),
        ({"to": "+15550001001", "from": SENDER, "media": ["ftp://e.com/a"]}, "invalid_media_url", "media"),
        ({"to": "+15550001001", "from": SENDER, "body": "x", "status_callback": "ftp://x"}, "not_an_http_url", "status_callback"),
        ({"to": "+15550001001", "from": SENDER, "body": "x", "custom_variables": {"sw_id": "1"}}, "reserved_custom_variable_name", "custom_variables"),
        ({"to": "+15550001001", "from": SENDER, "body": "x", "custom_variables": {"1a": "1"}}, "invalid_custom_variable_name", "custom_variables"),
        ({"to": "+15550001001", "from": SENDER, "body": "x", "custom_variables": {"a": ""}}, "invalid_custom_variable_value", "custom_variables"),
        ({"to": "+15550001001", "from": SENDER, "body": "x", "custom_variables": {f"k{i}": "v" for i in range(21)}}, "too_many_custom_variables", "custom_variables"),
        ({"to": "+15550001005", "from": SENDER, "body": "x"}, "message_blocked_by_number", "to"),
    ],
)  # fmt: skip
def test_invalid_sends_get_the_documented_422(client, request_body, code, attribute):
    response = client.post(MESSAGES, json=request_body, auth=AUTH)
    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert set(error) == ERROR_KEYS and (error["code"], error["attribute"]) == (code, attribute)
    assert client.get("/_sandbox/messages").json() == {"messages": []}


def test_auth_bad_json_and_unknown_ids_get_the_plain_error_shape(client):
    assert client.post(MESSAGES, json={}, auth=(CONFIG.signalwire_project, "nope")).json() == {
        "error": "Unauthorized"
    }
    bad = client.post(MESSAGES, content=b"{not json", auth=AUTH, headers={"Content-Type": "application/json"})
    assert (bad.status_code, bad.json()) == (400, {"error": "Bad Request"})
    missing = client.get(f"{LOGS}/00000000-0000-0000-0000-000000000000", auth=AUTH)
    assert (missing.status_code, missing.json()) == (404, {"error": "Not Found"})


def test_the_logs_hold_every_api_and_a_failure_names_its_code(client):
    compat = client.post(COMPAT, data={"To": "+15550001003", "From": SENDER, "Body": "a"}, auth=AUTH).json()
    native = client.post(MESSAGES, json={"to": "+15550001003", "from": SENDER, "body": "b"}, auth=AUTH).json()
    with client.websocket_connect("/") as ws:  # one Relay message, current framing
        ws.send_json({"jsonrpc": "2.0", "id": "1", "method": "signalwire.connect",
                      "params": {"authentication": {"project": AUTH[0], "token": AUTH[1]}, "contexts": ["office"]}})  # fmt: skip
        sent_id = None
        while sent_id is None:
            frame = ws.receive_json()
            if frame.get("id") == "1":
                ws.send_json({"jsonrpc": "2.0", "id": "2", "method": "messaging.send", "params": {
                    "context": "office", "to_number": "+15550001003", "from_number": SENDER, "body": "c"}})  # fmt: skip
            elif frame.get("id") == "2":
                sent_id = frame["result"]["message_id"]
    ids = {compat["sid"]: "laml", native["id"]: "native", sent_id: "relay"}
    wait_for(lambda: all(client.get(f"{LOGS}/{i}", auth=AUTH).json()["status"] == "failed" for i in ids))
    entries = {e["id"]: e for e in client.get(LOGS, auth=AUTH).json()["data"]}
    assert set(entries) == set(ids)
    assert (entries[compat["sid"]]["source"], entries[compat["sid"]]["error_code"]) == ("laml", "30007")
    assert entries[compat["sid"]]["url"].endswith(f"/Messages/{compat['sid']}")
    assert entries[native["id"]]["error_code"] == "carrier_violation"
    relay = entries[sent_id]
    assert (relay["type"], relay["error_code"], relay["url"]) == ("relay_message", None, None)
    assert relay["error_message"]  # Relay: the text without a code
    assert client.get(COMPAT.replace(".json", f"/{sent_id}.json"), auth=AUTH).status_code == 404


def test_the_logs_page_with_tokens_newest_first(client):
    ids = [client.post(MESSAGES, json={"to": "+15550001004", "from": SENDER, "body": str(i)}, auth=AUTH).json()["id"]
           for i in range(5)]  # fmt: skip
    first = client.get(LOGS, params={"page_size": 2}, auth=AUTH).json()
    assert [e["id"] for e in first["data"]] == ids[::-1][:2] and "prev" not in first["links"]
    seen, page = [], first
    while True:
        seen += [e["id"] for e in page["data"]]
        if "next" not in page["links"]:
            break
        page = client.get(httpx.URL(page["links"]["next"]).raw_path.decode(), auth=AUTH).json()
    assert seen == ids[::-1]
    no_token = client.get(LOGS, params={"page_number": 1}, auth=AUTH)
    bad_token = client.get(LOGS, params={"page_number": 1, "page_token": "PAnope"}, auth=AUTH)
    bad_date = client.get(LOGS, params={"created_after": "yesterday"}, auth=AUTH)
    assert [r.json()["errors"][0]["code"] for r in (no_token, bad_token, bad_date)] == [
        "page_token_required", "page_token_is_invalid", "datetime_required"]  # fmt: skip
    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert len(client.get(LOGS, params={"created_on": today}, auth=AUTH).json()["data"]) == 5
    assert client.get(LOGS, params={"created_before": today}, auth=AUTH).json()["data"] == []


def test_a_message_in_a_final_state_can_be_redacted():
    from dataclasses import replace

    from fastapi.testclient import TestClient

    from messaging_sandbox.app import create_app

    slow = replace(CONFIG, sent_delay=1.0, delivered_delay=0.01)  # in progress for a second
    with TestClient(create_app(slow)) as client:
        redact_after_delivery(client)


def redact_after_delivery(client):
    message = client.post(
        MESSAGES, json={"to": "+15550001001", "from": SENDER, "body": "secret"}, auth=AUTH
    ).json()
    early = client.patch(f"{MESSAGES}/{message['id']}", json={"body": ""}, auth=AUTH)
    assert early.json()["errors"][0]["code"] == "cannot_redact_in_progress_message"
    wait_for(lambda: client.get(f"{LOGS}/{message['id']}", auth=AUTH).json()["status"] == "delivered")
    assert client.patch(f"{MESSAGES}/{message['id']}", json={"body": "x"}, auth=AUTH).json()["errors"][0][
        "code"] == "body_must_be_empty"  # fmt: skip
    assert client.patch(f"{MESSAGES}/{message['id']}", json={"body": ""}, auth=AUTH).json()["body"] == ""


def test_status_callbacks_are_the_documented_json_signed_over_url_and_body(sandbox, receiver):
    c = sandbox.config
    url = f"{receiver.url}/sw/native?run=1"
    created = httpx.post(f"{sandbox.url}{MESSAGES}", auth=AUTH, json={
        "to": "+15550001002", "from": SENDER, "body": "hi", "status_callback": url,
        "custom_variables": {"order": "12345"}}).json()  # fmt: skip
    wait_for(lambda: len(receiver.hooks) == 3)  # initiated, sent, undelivered
    for hook in receiver.hooks:
        key, signed = c.signing_key.encode(), url.encode() + hook.body
        assert hook.headers["x-signalwire-signature"] == hmac.new(key, signed, hashlib.sha1).hexdigest()
        assert (
            hook.headers["x-signalwire-sha256-signature"] == hmac.new(key, signed, hashlib.sha256).hexdigest()
        )
    payloads = [json.loads(hook.body) for hook in receiver.hooks]
    assert [p["status"] for p in payloads] == ["initiated", "sent", "undelivered"]
    last = payloads[-1]
    assert (last["id"], last["error_code"], last["custom_variables"]) == (
        created["id"], "unreachable_destination_handset", {"order": "12345"})  # fmt: skip
    assert set(last) == {"id", "project_id", "status", "to", "from", "body", "number_of_segments", "timestamp",
                         "error_code", "error_message", "custom_variables"}  # fmt: skip
