"""Playing the person at the other end: taps in WhatsApp's documented inbound shapes, and inbound
SMS POSTed and signed as SignalWire calls a number's messaging webhook."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import httpx

from messaging_sandbox.server import SandboxServer

USER = "15550002001"


def wait_for(check: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def send(sandbox: SandboxServer, kind: str, body: dict[str, Any]) -> str:
    c = sandbox.config
    answer = httpx.post(f"{sandbox.url}/v25.0/{c.whatsapp_phone_number_id}/messages",
                        json={"messaging_product": "whatsapp", "to": USER, "type": kind, kind: body},
                        headers={"Authorization": f"Bearer {c.whatsapp_token}"})  # fmt: skip
    assert answer.status_code == 200, answer.text
    return str(answer.json()["messages"][0]["id"])


def tapped(sandbox: SandboxServer, receiver: Any, **tap: str) -> dict[str, Any]:
    before = len(receiver.hooks)
    answer = httpx.post(f"{sandbox.url}/_sandbox/whatsapp/tap", json=tap)
    assert answer.status_code == 200, answer.text

    def value(hook: Any) -> dict[str, Any]:
        return dict(json.loads(hook.body)["entry"][0]["changes"][0]["value"])

    wait_for(lambda: any("messages" in value(h) for h in receiver.hooks[before:]))
    hook = next(h for h in receiver.hooks[before:] if "messages" in value(h))
    secret = sandbox.config.whatsapp_app_secret.encode()
    assert (
        hook.headers["x-hub-signature-256"]
        == "sha256=" + hmac.new(secret, hook.body, hashlib.sha256).hexdigest()
    )
    return dict(value(hook)["messages"][0])


def test_a_tap_on_a_reply_button_a_list_row_and_a_template_quick_reply(sandbox, receiver):
    buttons = send(sandbox, "interactive", {"type": "button", "body": {"text": "Deploy?"}, "action": {"buttons": [
        {"type": "reply", "reply": {"id": "b-approve", "title": "Approve"}},
        {"type": "reply", "reply": {"id": "b-reject", "title": "Reject"}}]}})  # fmt: skip
    message = tapped(sandbox, receiver, to=f"+{USER}", title="Reject")
    assert message["from"] == USER and message["type"] == "interactive"
    assert message["interactive"] == {
        "type": "button_reply",
        "button_reply": {"id": "b-reject", "title": "Reject"},
    }
    assert message["context"]["id"] == buttons

    send(sandbox, "interactive", {"type": "list", "body": {"text": "Which?"}, "action": {"button": "Choose",
         "sections": [{"rows": [{"id": "r1", "title": "One"}, {"id": "r2", "title": "Two", "description": "2"}]}]}})  # fmt: skip
    message = tapped(sandbox, receiver, to=USER, title="Two", **{"from": "+15550002009"})
    assert message["from"] == "15550002009"
    assert message["interactive"] == {
        "type": "list_reply",
        "list_reply": {"id": "r2", "title": "Two", "description": "2"},
    }

    send(sandbox, "template", {"name": "hitl_question", "language": {"code": "en_US"}, "components": [
        {"type": "body", "parameters": [{"type": "text", "text": "Deploy?"}]},
        {"type": "button", "sub_type": "quick_reply", "index": "0", "parameters": [{"type": "payload", "payload": "p0"}]},
        {"type": "button", "sub_type": "quick_reply", "index": "1", "parameters": [{"type": "payload", "payload": "p1"}]},
    ]})  # fmt: skip
    message = tapped(sandbox, receiver, to=USER, title="Approve")
    assert (message["type"], message["button"]) == ("button", {"payload": "p0", "text": "Approve"})

    missing = httpx.post(f"{sandbox.url}/_sandbox/whatsapp/tap", json={"to": USER, "title": "Maybe"})
    assert missing.status_code == 404 and "titled 'Maybe'" in missing.text


def test_an_inbound_sms_is_posted_to_the_webhook_signed_over_url_and_form(sandbox, receiver):
    url = f"{receiver.url}/sms/in"
    answer = httpx.post(f"{sandbox.url}/_sandbox/signalwire/sms",
                        json={"from": "+15550001001", "to": "+15551230001", "text": "2", "url": url})  # fmt: skip
    assert answer.json()["response_status"] == 200
    (hook,) = receiver.hooks
    form = parse_qsl(hook.body.decode(), keep_blank_values=True)
    assert {k: v for k, v in form if k in ("From", "To", "Body", "SmsStatus")} == {
        "From": "+15550001001", "To": "+15551230001", "Body": "2", "SmsStatus": "received"}  # fmt: skip
    signed = url + "".join(k + v for k, v in sorted(form, key=lambda kv: kv[0]))
    digest = hmac.new(sandbox.config.signing_key.encode(), signed.encode(), hashlib.sha1).digest()
    assert hook.headers["x-signalwire-signature"] == base64.b64encode(digest).decode()
