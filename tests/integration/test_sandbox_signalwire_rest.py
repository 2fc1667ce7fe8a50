"""The sandbox answers like SignalWire's Compatibility Messages API, checked with plain HTTP."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from airflow_provider_messaging.signalwire.webhooks import verify_signature as verify_signalwire_signature

pytestmark = pytest.mark.integration

ERROR_KEYS = {"code", "message", "more_info", "status"}
RESOURCE_KEYS = {
    "account_sid", "api_version", "body", "num_segments", "num_media", "date_created", "date_sent", "date_updated",
    "direction", "error_code", "error_message", "from", "price", "price_unit", "sid", "status", "to",
    "messaging_service_sid", "uri", "subresource_uris",
}  # fmt: skip


@pytest.fixture
def api(sandbox) -> Iterator[httpx.Client]:
    httpx.post(f"{sandbox.url}/_sandbox/reset").raise_for_status()
    base = f"{sandbox.url}/api/laml/2010-04-01/Accounts/{sandbox.config.signalwire_project}"
    auth = (sandbox.config.signalwire_project, sandbox.config.signalwire_token)
    with httpx.Client(base_url=base, auth=auth) as client:
        yield client


def history(sandbox, sid: str, until: str, attempts: int = 400) -> list[str]:
    for _ in range(attempts):
        (row,) = [
            m for m in httpx.get(f"{sandbox.url}/_sandbox/messages").json()["messages"] if m["sid"] == sid
        ]
        statuses = [h["status"] for h in row["history"]]
        if until in statuses:
            return statuses
        time.sleep(0.02)
    raise AssertionError(f"{sid} never reached {until}: {statuses}")


def test_wrong_credentials_get_the_real_401_body(sandbox, api):
    response = httpx.post(
        f"{str(api.base_url).rstrip('/')}/Messages.json",
        data={"To": "+15550001001"},
        auth=("sandbox-project", "x"),
    )
    assert response.status_code == 401
    assert set(response.json()) == ERROR_KEYS and response.json()["code"] == 20003
    other_project = str(api.base_url).rstrip("/").replace(sandbox.config.signalwire_project, "someone-else")
    assert httpx.get(f"{other_project}/Messages.json", auth=api.auth).status_code == 401


@pytest.mark.parametrize(
    ("form", "code"),
    [
        ({"From": "+15551230001", "Body": "x"}, 21604),
        ({"To": "12345", "From": "+15551230001", "Body": "x"}, 21211),
        ({"To": "+15550001001", "Body": "x"}, 21603),
        ({"To": "+15550001001", "From": "abc", "Body": "x"}, 21212),
        ({"To": "+15550001001", "From": "+15551230001"}, 21602),
        ({"To": "+15550001001", "From": "+15551230001", "Body": "x" * 1601}, 21617),
        (
            {
                "To": "+15550001001",
                "From": "+15551230001",
                "MediaUrl": [f"https://e.com/{i}" for i in range(9)],
            },
            21623,
        ),
        ({"To": "+15550001001", "From": "+15551230001", "MediaUrl": "ftp://e.com/a"}, 21620),
        ({"To": "+15550001005", "From": "+15551230001", "Body": "x"}, 21610),
    ],
)
def test_invalid_creates_get_the_documented_codes_and_store_nothing(sandbox, api, form, code):
    response = api.post("/Messages.json", data=form)
    assert response.status_code == 400
    assert set(response.json()) == ERROR_KEYS and response.json()["code"] == code
    assert httpx.get(f"{sandbox.url}/_sandbox/messages").json()["messages"] == []


def test_create_and_fetch_return_the_full_resource(api):
    created = api.post(
        "/Messages.json",
        data={
            "To": "+15550001001",
            "From": "+15551230001",
            "Body": "hé",
            "MediaUrl": ["https://e.com/a.png", "https://e.com/b.png"],
        },
    )
    assert created.status_code == 201
    body = created.json()
    assert set(body) == RESOURCE_KEYS
    assert body["status"] == "queued" and body["num_media"] == 2 and body["direction"] == "outbound-api"
    assert body["date_created"].endswith("+0000") and body["uri"].endswith(f"/Messages/{body['sid']}.json")
    fetched = api.get(f"/Messages/{body['sid']}.json")
    assert fetched.status_code == 200 and fetched.json()["sid"] == body["sid"]
    missing = api.get("/Messages/does-not-exist.json")
    assert missing.status_code == 404 and missing.json()["code"] == 20404


def test_list_pages_follow_next_page_uri(sandbox, api):
    sids = [api.post("/Messages.json", data={"To": "+15550001001", "From": "+15551230001", "Body": str(i)}).json()["sid"]
            for i in range(7)]  # fmt: skip
    seen, url, pages = [], f"{str(api.base_url).rstrip('/')}/Messages.json?PageSize=3", 0
    while url:
        page = api.get(url).json()
        seen += [m["sid"] for m in page["messages"]]
        url = f"{sandbox.url}{page['next_page_uri']}" if page["next_page_uri"] else None
        pages += 1
    assert pages == 3 and seen == list(reversed(sids))
    assert api.get("/Messages.json", params={"Page": 1}).json()["code"] == 54453
    assert api.get("/Messages.json", params={"PageSize": 0}).json()["code"] == 54454
    assert len(api.get("/Messages.json", params={"To": "+15550009999"}).json()["messages"]) == 0


@pytest.mark.parametrize(
    ("to", "until", "expected", "code"),
    [
        ("+15550001001", "delivered", ["queued", "sent", "delivered"], None),
        ("+15550001002", "undelivered", ["queued", "sent", "undelivered"], "30003"),
        ("+15550001003", "failed", ["queued", "failed"], "30007"),
        ("+15550001006", "delivered", ["queued", "sent", "delivered"], None),
    ],
)
def test_statuses_progress_per_magic_number(sandbox, api, to, until, expected, code):
    sid = api.post("/Messages.json", data={"To": to, "From": "+15551230001", "Body": "x"}).json()["sid"]
    assert history(sandbox, sid, until) == expected
    assert api.get(f"/Messages/{sid}.json").json()["error_code"] == code


def test_never_delivered_number_stays_sent(sandbox, api):
    sid = api.post("/Messages.json", data={"To": "+15550001004", "From": "+15551230001", "Body": "x"}).json()[
        "sid"
    ]
    assert history(sandbox, sid, "sent") == ["queued", "sent"]
    time.sleep(0.3)
    assert api.get(f"/Messages/{sid}.json").json()["status"] == "sent"


class Receiver(http.server.BaseHTTPRequestHandler):
    received: list[tuple[str, dict[str, str], bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.received.append((self.path, dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_status_callbacks_are_signed_with_the_signing_key(sandbox, api):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hooks/status?dag=x"
    try:
        Receiver.received.clear()
        sid = api.post("/Messages.json", data={"To": "+15550001002", "From": "+15551230001", "Body": "x",
                                               "StatusCallback": url}).json()["sid"]  # fmt: skip
        history(sandbox, sid, "undelivered")
        for _ in range(100):
            if len(Receiver.received) >= 2:
                break
            time.sleep(0.02)
    finally:
        server.shutdown()
    assert [b.decode().split("MessageStatus=")[1].split("&")[0] for _, _, b in Receiver.received] == [
        "sent",
        "undelivered",
    ]
    for path, headers, body in Receiver.received:
        assert path == "/hooks/status?dag=x"
        signature = headers["X-SignalWire-Signature"]
        assert headers["X-Twilio-Signature"] == signature
        assert verify_signalwire_signature(sandbox.config.signing_key, signature, url, body)
        assert not verify_signalwire_signature("another-key", signature, url, body)
    assert b"ErrorCode=30003" in Receiver.received[-1][2]


def test_faults_answer_before_anything_is_stored(sandbox, api):
    httpx.put(
        f"{sandbox.url}/_sandbox/faults", json={"rate_limit_rate": 1.0, "retry_after": 2}
    ).raise_for_status()
    limited = api.post("/Messages.json", data={"To": "+15550001001", "From": "+15551230001", "Body": "x"})
    assert (
        limited.status_code == 429
        and limited.headers["Retry-After"] == "2"
        and limited.json()["code"] == 20429
    )
    httpx.put(
        f"{sandbox.url}/_sandbox/faults", json={"error_rate": 1.0, "error_status": 503}
    ).raise_for_status()
    assert (
        api.post(
            "/Messages.json", data={"To": "+15550001001", "From": "+15551230001", "Body": "x"}
        ).status_code
        == 503
    )
    assert httpx.get(f"{sandbox.url}/_sandbox/messages").json()["messages"] == []
    assert httpx.put(f"{sandbox.url}/_sandbox/faults", json={"error_rate": 7}).status_code == 400
    httpx.post(f"{sandbox.url}/_sandbox/reset").raise_for_status()
    assert httpx.get(f"{sandbox.url}/_sandbox/faults").json()["error_rate"] == 0.0
