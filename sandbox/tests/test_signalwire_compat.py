"""The Compatibility Messages API refuses bad creates with SignalWire's codes and error body."""

from __future__ import annotations

import pytest

from messaging_sandbox.config import SandboxConfig

CONFIG = SandboxConfig()
MESSAGES = f"/api/laml/2010-04-01/Accounts/{CONFIG.signalwire_project}/Messages.json"
AUTH = (CONFIG.signalwire_project, CONFIG.signalwire_token)
ERROR_KEYS = {"code", "message", "more_info", "status"}
SENDER = "+15551230001"


@pytest.mark.parametrize(
    ("form", "code"),
    [
        ({"From": SENDER, "Body": "x"}, 21604),
        ({"To": "5551230002", "From": SENDER, "Body": "x"}, 21211),
        ({"To": "+15550001001", "Body": "x"}, 21603),
        ({"To": "+15550001001", "From": "sandbox", "Body": "x"}, 21212),
        ({"To": "+15550001001", "From": SENDER}, 21602),
        ({"To": "+15550001001", "From": SENDER, "Body": "x" * 1601}, 21617),
        ({"To": "+15550001001", "From": SENDER, "MediaUrl": [f"https://e.com/{i}.png" for i in range(9)]}, 21623),
        ({"To": "+15550001001", "From": SENDER, "MediaUrl": "ftp://e.com/a.png"}, 21620),
        ({"To": "+15550001005", "From": SENDER, "Body": "x"}, 21610),
    ],
)  # fmt: skip
def test_invalid_creates_are_refused_with_the_documented_code(client, form, code):
    response = client.post(MESSAGES, data=form, auth=AUTH)
    assert response.status_code == 400
    body = response.json()
    assert set(body) == ERROR_KEYS
    assert (body["code"], body["status"]) == (code, 400)
    assert body["more_info"].startswith("https://signalwire.com/")
    assert client.get("/_sandbox/messages").json() == {"messages": []}


def test_limits_are_inclusive(client):
    ok = {"To": "+15550001001", "From": SENDER, "Body": "x" * 1600,
          "MediaUrl": [f"https://e.com/{i}.png" for i in range(8)]}  # fmt: skip
    assert client.post(MESSAGES, data=ok, auth=AUTH).status_code == 201


def test_wrong_credentials_get_20003(client):
    response = client.post(MESSAGES, data={"To": "+15550001001"}, auth=(CONFIG.signalwire_project, "nope"))
    assert response.status_code == 401 and response.json()["code"] == 20003
    assert response.headers["www-authenticate"].startswith("Basic")


@pytest.mark.parametrize(
    ("body", "segments"),
    [("Nightly backup finished", 1), ("€" * 81, 2), ("\N{ROCKET}" + "a" * 69, 2), ("hé", 1)],
)
def test_created_resource_counts_segments(client, body, segments):
    response = client.post(MESSAGES, data={"To": "+15550001001", "From": SENDER, "Body": body}, auth=AUTH)
    assert response.status_code == 201
    resource = response.json()
    assert (resource["status"], resource["num_segments"], resource["error_code"]) == (
        "queued",
        segments,
        None,
    )
    assert resource["date_created"].endswith(" +0000")
    assert resource["uri"] == f"{MESSAGES.removesuffix('.json')}/{resource['sid']}.json"


def test_a_media_only_message_counts_one_segment(client):
    form = {"To": "+15550001001", "From": SENDER, "MediaUrl": "https://e.com/a.png"}
    resource = client.post(MESSAGES, data=form, auth=AUTH).json()
    assert (resource["body"], resource["num_media"], resource["num_segments"]) == (None, 1, 1)
