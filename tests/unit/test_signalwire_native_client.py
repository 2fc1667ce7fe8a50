"""The native Messaging API client and the message logs, HTTP faked with respx."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import respx

from airflow_provider_messaging.core.errors import (
    AccountError,
    AuthenticationError,
    MessageNotFoundError,
    OutcomeUnknownError,
    RecipientError,
    ValidationError,
)
from airflow_provider_messaging.core.retry import RetryPolicy
from airflow_provider_messaging.core.states import MessageState
from airflow_provider_messaging.signalwire.credentials import SignalWireCredentials
from airflow_provider_messaging.signalwire.native import (
    AsyncMessagingApiClient,
    MessagingApiClient,
    checked_custom_variables,
    look_up,
)
from airflow_provider_messaging.signalwire.webhooks import parse_callback

BASE = "https://example.signalwire.com"
CREDS = SignalWireCredentials(project_id="p1", api_token="PT-secret", space_url="example.signalwire.com")
FAST = RetryPolicy(max_attempts=3, initial_backoff=0.0, max_backoff=0.0)


def message(id="c2d3e4f5", status="queued", **extra):
    return {"id": id, "from": "+15551230001", "to": "+15551230002", "body": "hi", "status": status,
            "direction": "outbound", "kind": "sms", "media": [], "number_of_segments": 1, "error_code": None,
            "error_message": None, "created_at": "2026-03-17T22:26:57Z", "project_id": "p1",
            "status_callback_url": None, "message_uri": f"/api/messaging/logs/{id}", **extra}  # fmt: skip


def errors(*entries):
    return {"errors": [{"type": "validation_error", "code": code, "message": text, "attribute": attribute,
                        "url": "https://developer.signalwire.com/rest/overview/error-codes/"}
                       for code, attribute, text in entries]}  # fmt: skip


@pytest.fixture
def client():
    with MessagingApiClient(CREDS, retry_policy=FAST) as c:
        yield c


@respx.mock
def test_a_send_posts_json_with_only_the_keys_given(client):
    route = respx.post(f"{BASE}/api/messaging/messages").mock(
        return_value=httpx.Response(201, json=message())
    )
    sent = client.send_message("+15551230002", "+15551230001", "hi", custom_variables={"order": "1"})
    body = json.loads(route.calls[0].request.content)
    assert body == {
        "to": "+15551230002",
        "from": "+15551230001",
        "body": "hi",
        "custom_variables": {"order": "1"},
    }
    assert route.calls[0].request.headers["authorization"].startswith("Basic ")
    assert (sent.id, sent.state, sent.created_at) == ("c2d3e4f5", MessageState.QUEUED, 1773786417.0)


@respx.mock
def test_422_names_every_problem_and_takes_its_class_from_the_table(client):
    respx.post(f"{BASE}/api/messaging/messages").mock(return_value=httpx.Response(422, json=errors(
        ("invalid_from_number", "from", "From must be a purchased number"), ("character_limit_exceeded", "body", "too long"))))  # fmt: skip
    with pytest.raises(AccountError) as refused:
        client.send_message("+15551230002", "+15550000000", "hi")
    assert refused.value.code == "invalid_from_number" and refused.value.stops_batch
    assert (
        "invalid_from_number (from): From must be a purchased number; character_limit_exceeded (body)"
        in str(refused.value)
    )
    respx.post(f"{BASE}/api/messaging/messages").mock(
        return_value=httpx.Response(422, json=errors(("message_blocked_by_number", "to", "blocked"))))  # fmt: skip
    with pytest.raises(RecipientError) as stop:
        client.send_message("+15551230002", "+15551230001", "hi")
    assert not stop.value.stops_batch


@respx.mock
def test_plain_errors_a_lost_answer_and_an_unknown_log(client):
    respx.post(f"{BASE}/api/messaging/messages").mock(
        return_value=httpx.Response(401, json={"error": "Unauthorized"})
    )
    with pytest.raises(AuthenticationError, match="Unauthorized"):
        client.send_message("+15551230002", "+15551230001", "hi")
    respx.post(f"{BASE}/api/messaging/messages").mock(
        return_value=httpx.Response(500, json={"error": "Internal Server Error"}))  # fmt: skip
    with pytest.raises(OutcomeUnknownError, match="not resent"):
        client.send_message("+15551230002", "+15551230001", "hi")
    respx.get(f"{BASE}/api/messaging/logs/nope").mock(
        return_value=httpx.Response(404, json={"error": "Not Found"})
    )
    with pytest.raises(MessageNotFoundError):
        client.fetch_log("nope")


@respx.mock
def test_the_logs_follow_links_next_and_a_relay_failure_keeps_its_text(client):
    first = {"links": {"self": f"{BASE}/api/messaging/logs?page_size=1",
                       "next": f"{BASE}/api/messaging/logs?page_number=1&page_size=1&page_token=PAa"},
             "data": [message("a", "delivered", source="laml", type="laml_message")]}  # fmt: skip
    second = {"links": {}, "data": [message("b", "undelivered", source="realtime_api", type="relay_message",
                                            error_message="Unreachable Destination Handset")]}  # fmt: skip
    route = respx.get(f"{BASE}/api/messaging/logs").mock(
        side_effect=[httpx.Response(200, json=first), httpx.Response(200, json=second)]
    )
    entries = list(client.list_logs(page_size=1))
    assert [e.id for e in entries] == ["a", "b"]
    assert route.calls[1].request.url.params["page_token"] == "PAa"
    relay = entries[1].observation()
    assert (relay.state, relay.error_code, relay.error_message) == (
        MessageState.UNDELIVERED, None, "Unreachable Destination Handset")  # fmt: skip


@respx.mock
def test_look_up_fetches_a_few_and_reads_the_recent_logs_for_many():
    respx.get(f"{BASE}/api/messaging/logs/a").mock(
        return_value=httpx.Response(200, json=message("a", "sent"))
    )
    respx.get(f"{BASE}/api/messaging/logs/b").mock(
        return_value=httpx.Response(404, json={"error": "Not Found"})
    )
    many = [f"m{i}" for i in range(60)]
    respx.get(f"{BASE}/api/messaging/logs").mock(
        return_value=httpx.Response(
            200, json={"links": {}, "data": [message(i, "delivered") for i in many[:55]]}
        )
    )

    async def run():
        async with AsyncMessagingApiClient(CREDS, retry_policy=FAST) as c:
            return await look_up(c, ["a", "b"]), await look_up(c, many)

    few, found = asyncio.run(run())
    assert set(few) == {"a"} and len(found) == 55


def test_custom_variables_are_checked_before_any_request():
    assert checked_custom_variables({"order": "1", "_case": "x"}) == {"order": "1", "_case": "x"}
    for bad, problem in [({"sw_id": "1"}, "reserved prefix"), ({"1a": "1"}, "name is not allowed"),
                         ({"a": ""}, "empty or not text"), ({"a": "x" * 1025}, "1025 bytes"),
                         ({f"k{i}": "v" for i in range(21)}, "21 variables")]:  # fmt: skip
        with pytest.raises(ValidationError, match=problem):
            checked_custom_variables(bad)


def test_the_native_status_callback_becomes_a_status_event():
    event = parse_callback({"id": "c2d3", "project_id": "p1", "status": "undelivered", "to": "+15551230002",
                            "from": "+15551230001", "body": "hi", "number_of_segments": 1,
                            "timestamp": "2026-03-17T22:26:57Z", "error_code": "unreachable_destination_handset",
                            "error_message": "Unreachable", "custom_variables": {"order": "1"}})  # fmt: skip
    assert (event.message_id, event.state, event.error_code, event.timestamp) == (
        "c2d3", MessageState.UNDELIVERED, "unreachable_destination_handset", 1773786417.0)  # fmt: skip
    assert "unreachable" in (event.error_title or "") and event.correlation == '{"order": "1"}'
