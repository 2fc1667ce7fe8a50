"""The Cloud API refuses bad sends with the Graph error JSON: message, type, code, details, trace id."""

from __future__ import annotations

import re

import pytest

from messaging_sandbox.config import SandboxConfig

CONFIG = SandboxConfig()
MESSAGES = f"/v21.0/{CONFIG.whatsapp_phone_number_id}/messages"
HEADERS = {"Authorization": f"Bearer {CONFIG.whatsapp_token}"}


def text(to: str, body: str = "hi") -> dict[str, object]:
    return {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": "text",
            "text": {"body": body}}  # fmt: skip


def template(name: str, language: str, *params: str) -> dict[str, object]:
    components = [{"type": "body", "parameters": [{"type": "text", "text": p} for p in params]}]
    return {"messaging_product": "whatsapp", "to": "15550002001", "type": "template",
            "template": {"name": name, "language": {"code": language}, "components": components}}  # fmt: skip


def graph_error(response, status: int, code: int) -> dict[str, object]:
    assert response.status_code == status
    error = response.json()["error"]
    assert {"message", "type", "code", "error_data", "fbtrace_id"} <= set(error)
    assert error["code"] == code and error["type"] == "OAuthException"
    assert re.fullmatch(rf"\(#{code}\) .+", error["message"])
    assert isinstance(error["error_data"]["details"], str) and error["error_data"]["details"]
    assert isinstance(error["fbtrace_id"], str) and error["fbtrace_id"]
    return error


def test_a_closed_window_refuses_free_form_text_with_re_engagement(client):
    error = graph_error(client.post(MESSAGES, json=text("15550002003"), headers=HEADERS), 400, 131047)
    assert error["message"] == "(#131047) Re-engagement message"
    assert "24 hours" in error["error_data"]["details"]
    sent = client.post(
        MESSAGES, json={**template("hello_world", "en_US"), "to": "15550002003"}, headers=HEADERS
    )
    assert sent.status_code == 200  # templates pass


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (text("12"), 131009),
        ({**text("15550002001"), "messaging_product": "sms"}, 100),
        ({**text("15550002001"), "type": "fax"}, 100),
        (text("15550002001", "x" * 4097), 100),
        (template("no_such_template", "en_US"), 132001),
        (template("weekly_report", "en_US", "Ada"), 132000),
        (template("spring_promo", "en_US", "20%"), 132015),
    ],
)
def test_invalid_sends_get_graph_errors(client, payload, code):
    graph_error(client.post(MESSAGES, json=payload, headers=HEADERS), 400, code)
    assert client.get("/_sandbox/messages").json() == {"messages": []}


def test_a_wrong_token_gets_190(client):
    graph_error(
        client.post(MESSAGES, json=text("15550002001"), headers={"Authorization": "Bearer x"}), 401, 190
    )


def test_an_accepted_send_returns_the_wamid(client):
    response = client.post(MESSAGES, json=text("+15550002001"), headers=HEADERS)
    assert response.status_code == 200
    body = response.json()
    assert body["contacts"] == [{"input": "+15550002001", "wa_id": "15550002001"}]
    assert body["messages"][0]["id"].startswith("wamid.")
