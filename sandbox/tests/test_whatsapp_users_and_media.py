"""Business-scoped user ids, the current status webhook shape and media, as Meta documents them."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import httpx
from test_webhooks import statuses_of, wait_for

from messaging_sandbox.server import SandboxServer

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


def send(sandbox: SandboxServer, **fields: Any) -> httpx.Response:
    c = sandbox.config
    body = {"messaging_product": "whatsapp", "type": "text", "text": {"body": "hi"}, **fields}
    return httpx.post(f"{sandbox.url}/v25.0/{c.whatsapp_phone_number_id}/messages", json=body,
                      headers={"Authorization": f"Bearer {c.whatsapp_token}"})  # fmt: skip


def values_of(receiver, wamid: str) -> list[dict[str, Any]]:
    found = []
    for hook in receiver.hooks:
        for entry in json.loads(hook.body)["entry"]:
            for change in entry["changes"]:
                if any(s["id"] == wamid for s in change["value"].get("statuses", [])):
                    found.append(change["value"])
    return found


def test_status_webhooks_carry_contacts_pricing_and_the_user_id(sandbox, receiver):
    wamid = send(sandbox, to="15550002007").json()["messages"][0]["id"]
    wait_for(lambda: len(values_of(receiver, wamid)) == 3)
    sent, delivered, read = values_of(receiver, wamid)
    for value in (sent, delivered, read):
        (contact,) = value["contacts"]
        (status,) = value["statuses"]
        assert contact["wa_id"] == "15550002007" == status["recipient_id"]
        assert contact["user_id"] == status["recipient_user_id"] and contact["user_id"].startswith("US.")
        assert status["pricing"] == {"billable": False, "pricing_model": "PMP", "type": "free_customer_service",
                                     "category": "service"}  # fmt: skip
    assert "username" not in sent["contacts"][0]["profile"]  # Meta: not on sent
    assert delivered["contacts"][0]["profile"]["username"] == "sandbox.user7"
    assert sent["statuses"][0]["conversation"]["expiration_timestamp"]
    assert "conversation" not in read["statuses"][0]


def test_a_failed_status_has_no_contacts_and_no_user_id_when_sent_to_a_number(sandbox, receiver):
    wamid = send(sandbox, to="15550002002").json()["messages"][0]["id"]
    wait_for(lambda: [s["status"] for s in statuses_of(receiver, wamid)] == ["sent", "failed"])
    failed = values_of(receiver, wamid)[-1]
    assert "contacts" not in failed
    assert "recipient_user_id" not in failed["statuses"][0]
    assert failed["statuses"][0]["recipient_id"] == "15550002002"


def test_a_user_id_recipient_is_answered_and_reported_by_user_id_only(sandbox, receiver):
    answer = send(sandbox, recipient="US.15550002008").json()
    assert answer["contacts"] == [{"input": "US.15550002008", "user_id": "US.15550002008"}]
    wamid = answer["messages"][0]["id"]
    wait_for(lambda: len(values_of(receiver, wamid)) == 3)
    for value in values_of(receiver, wamid):
        (status,) = value["statuses"]
        assert "recipient_id" not in status and status["recipient_user_id"] == "US.15550002008"
        assert "wa_id" not in value["contacts"][0] and value["contacts"][0]["user_id"] == "US.15550002008"
    assert values_of(receiver, wamid)[-1]["contacts"][0]["profile"]["username"] == "sandbox.nophone"


def test_to_wins_over_recipient_and_a_malformed_user_id_is_refused(sandbox):
    both = send(sandbox, to="15550002001", recipient="US.15550002008").json()
    assert both["contacts"][0] == {"input": "15550002001", "wa_id": "15550002001"}
    refused = send(sandbox, recipient="us.123")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == 131009
    nobody = send(sandbox)
    assert nobody.status_code == 400 and "to is required" in nobody.json()["error"]["error_data"]["details"]


def test_a_voice_note_is_played_after_it_is_read(sandbox, receiver):
    wamid = send(sandbox, to="15550002001", type="audio", audio={"id": "1234567890", "voice": True}).json()
    wamid = wamid["messages"][0]["id"]
    wait_for(lambda: len(statuses_of(receiver, wamid)) == 4)
    assert [s["status"] for s in statuses_of(receiver, wamid)] == ["sent", "delivered", "read", "played"]


def upload(client, content: bytes, mime: str, *, token: str | None = None, product: str = "whatsapp"):
    c = client.app.state.config
    return client.post(
        f"/v25.0/{c.whatsapp_phone_number_id}/media",
        files={"file": ("report" + {"image/png": ".png"}.get(mime, ".bin"), content, mime)},
        data={"messaging_product": product, "type": mime},
        headers={"Authorization": f"Bearer {token or c.whatsapp_token}"},
    )


def test_an_upload_can_be_looked_up_and_downloaded_with_the_token(client):
    c = client.app.state.config
    media_id = upload(client, PNG, "image/png").json()["id"]
    auth = {"Authorization": f"Bearer {c.whatsapp_token}"}
    info = client.get(f"/v25.0/{media_id}", headers=auth).json()
    assert info["mime_type"] == "image/png" and info["file_size"] == len(PNG) and info["id"] == media_id
    assert info["sha256"] == hashlib.sha256(PNG).hexdigest()
    assert client.get(info["url"]).status_code == 401
    assert client.get(info["url"], headers=auth).content == PNG


def test_uploads_meta_refuses(client):
    wrong = upload(client, b"MZ...", "application/x-msdownload").json()["error"]
    assert (
        wrong["code"] == 100
        and "Param file must be a file with one of the following types" in wrong["message"]
    )
    assert "Received file of type 'application/x-msdownload'" in wrong["message"]
    big = upload(client, PNG + b"\0" * (5 * 1024 * 1024), "image/png").json()["error"]
    assert big["code"] == 100 and "File Too Large" in big["error_data"]["details"]
    assert upload(client, PNG, "image/png", product="").json()["error"]["code"] == 100
    assert upload(client, PNG, "image/png", token="wrong").status_code == 401


def test_inbound_from_a_user_id_and_with_a_file(sandbox, receiver):
    httpx.post(f"{sandbox.url}/_sandbox/whatsapp/inbound", json={"from": "US.15550002008", "text": "YES"})
    pdf = {"type": "document", "mime_type": "application/pdf", "filename": "scan.pdf",
           "content_base64": base64.b64encode(b"%PDF-1.4 scan").decode()}  # fmt: skip
    httpx.post(f"{sandbox.url}/_sandbox/whatsapp/inbound", json={"from": "+4915112345678", "media": pdf})
    wait_for(lambda: len(receiver.hooks) == 2)
    first, second = (json.loads(h.body)["entry"][0]["changes"][0]["value"] for h in receiver.hooks)
    (message,) = first["messages"]
    assert "from" not in message and message["from_user_id"] == "US.15550002008"
    assert first["contacts"][0]["profile"]["username"] == "sandbox.nophone"
    (document,) = second["messages"]
    assert document["from"] == "4915112345678" and document["from_user_id"].startswith("DE.")
    assert (
        document["document"]["filename"] == "scan.pdf"
        and document["document"]["mime_type"] == "application/pdf"
    )
    c = sandbox.config
    info = httpx.get(f"{sandbox.url}/v25.0/{document['document']['id']}",
                     headers={"Authorization": f"Bearer {c.whatsapp_token}"}).json()  # fmt: skip
    assert info["sha256"] == document["document"]["sha256"]
