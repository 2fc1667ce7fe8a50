"""Status webhooks reach a receiver signed and shaped as the services document them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from urllib.parse import parse_qsl

import httpx

from messaging_sandbox.server import SandboxServer


def wait_for(check: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_signalwire_callbacks_are_signed_over_the_url_and_the_sorted_form(sandbox, receiver):
    c = sandbox.config
    url = f"{receiver.url}/sw/status?dag=nightly"
    created = httpx.post(
        f"{sandbox.url}/api/laml/2010-04-01/Accounts/{c.signalwire_project}/Messages.json",
        data={"To": "+15550001002", "From": "+15551230001", "Body": "hi", "StatusCallback": url},
        auth=(c.signalwire_project, c.signalwire_token),
    ).json()
    wait_for(lambda: len(receiver.hooks) == 2)
    statuses = []
    for hook in receiver.hooks:
        assert hook.path == "/sw/status?dag=nightly"
        form = parse_qsl(hook.body.decode(), keep_blank_values=True)
        signed = url + "".join(k + v for k, v in sorted(form, key=lambda kv: kv[0]))
        digest = hmac.new(c.signing_key.encode(), signed.encode(), hashlib.sha1).digest()
        assert hook.headers["x-signalwire-signature"] == base64.b64encode(digest).decode()
        assert hook.headers["x-twilio-signature"] == hook.headers["x-signalwire-signature"]
        statuses.append(dict(form))
    assert [s["MessageStatus"] for s in statuses] == ["sent", "undelivered"]
    assert statuses[-1]["ErrorCode"] == "30003" and statuses[-1]["MessageSid"] == created["sid"]
    fetched = httpx.get(
        f"{sandbox.url}/api/laml/2010-04-01/Accounts/{c.signalwire_project}/Messages/{created['sid']}.json",
        auth=(c.signalwire_project, c.signalwire_token),
    ).json()
    assert (fetched["error_code"], fetched["error_message"]) == ("30003", "Unreachable Destination Handset")


def send_text(sandbox: SandboxServer, to: str) -> str:
    c = sandbox.config
    response = httpx.post(
        f"{sandbox.url}/v21.0/{c.whatsapp_phone_number_id}/messages",
        json={"messaging_product": "whatsapp", "to": to, "type": "text", "text": {"body": "hi"}},
        headers={"Authorization": f"Bearer {c.whatsapp_token}"},
    )
    return str(response.json()["messages"][0]["id"])


def statuses_of(receiver, wamid: str) -> list[dict[str, object]]:
    found = []
    for hook in receiver.hooks:
        for entry in json.loads(hook.body)["entry"]:
            for change in entry["changes"]:
                found += [s for s in change["value"].get("statuses", []) if s["id"] == wamid]
    return found


def test_whatsapp_webhooks_carry_meta_signature_over_the_raw_body(sandbox, receiver):
    wamid = send_text(sandbox, "15550002001")
    wait_for(lambda: len(statuses_of(receiver, wamid)) == 3)
    assert [s["status"] for s in statuses_of(receiver, wamid)] == ["sent", "delivered", "read"]
    secret = sandbox.config.whatsapp_app_secret.encode()
    for hook in receiver.hooks:
        expected = "sha256=" + hmac.new(secret, hook.body, hashlib.sha256).hexdigest()
        assert hook.headers["x-hub-signature-256"] == expected
        assert json.loads(hook.body)["object"] == "whatsapp_business_account"


def test_a_failed_whatsapp_status_carries_metas_error_shape(sandbox, receiver):
    wamid = send_text(sandbox, "15550002002")
    wait_for(lambda: [s["status"] for s in statuses_of(receiver, wamid)] == ["sent", "failed"])
    failed = statuses_of(receiver, wamid)[-1]
    assert failed["errors"] == [{
        "code": 131026, "title": "Message undeliverable", "message": "Message undeliverable",
        "error_data": {"details": "Message Undeliverable."},
        "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
    }]  # fmt: skip
    assert "pricing" not in failed and failed["recipient_id"] == "15550002002"


def test_inbound_text_is_posted_with_unicode_escaped_so_both_signature_readings_agree(sandbox, receiver):
    response = httpx.post(
        f"{sandbox.url}/_sandbox/whatsapp/inbound", json={"from": "+4915112345678", "text": "Grüße ✓"}
    )
    wamid = response.json()["id"]
    wait_for(lambda: len(receiver.hooks) == 1)
    raw = receiver.hooks[0].body
    assert raw.isascii() and b"Gr\\u00fc\\u00dfe \\u2713" in raw
    (message,) = json.loads(raw)["entry"][0]["changes"][0]["value"]["messages"]
    assert (message["id"], message["from"], message["text"]) == (wamid, "4915112345678", {"body": "Grüße ✓"})
