from __future__ import annotations

import httpx
import pytest
import respx

from airflow_provider_messaging.core.errors import (
    AuthenticationError,
    ConfigurationError,
    MessageNotFoundError,
    OutcomeUnknownError,
    PermanentError,
    RateLimitedError,
    ServiceUnavailableError,
)
from airflow_provider_messaging.core.retry import RetryPolicy
from airflow_provider_messaging.core.states import MessageState
from airflow_provider_messaging.signalwire.credentials import SignalWireCredentials, space_base_url
from airflow_provider_messaging.signalwire.rest import AsyncSignalWireRestClient, SignalWireRestClient

BASE = "https://example.signalwire.com"
PROJECT = "ea108133-d6b3-407c-9536-9fad8a929a6a"
MESSAGES = f"{BASE}/api/laml/2010-04-01/Accounts/{PROJECT}/Messages.json"
FAST = RetryPolicy(max_attempts=3, initial_backoff=0.0, max_backoff=0.0)


def resource(sid="0a059168-ead0-41af-9d1f-343dae832527", status="queued", **extra):
    data = {
        "account_sid": PROJECT,
        "api_version": "2010-04-01",
        "body": "Nightly backup finished",
        "num_segments": 1,
        "num_media": 0,
        "date_created": "Wed, 01 May 2024 02:00:03 +0000",
        "date_sent": None,
        "date_updated": "Wed, 01 May 2024 02:00:03 +0000",
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": "+15551230001",
        "price": None,
        "price_unit": "USD",
        "sid": sid,
        "status": status,
        "to": "+15551230002",
        "messaging_service_sid": None,
        "uri": f"/api/laml/2010-04-01/Accounts/{PROJECT}/Messages/{sid}.json",
    }
    data.update(extra)
    return data


@pytest.fixture
def client():
    creds = SignalWireCredentials(
        project_id=PROJECT, api_token="PT-secret-token", space_url="example.signalwire.com"
    )
    with SignalWireRestClient(creds, retry_policy=FAST) as c:
        yield c


def test_space_url_accepts_host_name_url_or_space_name():
    assert space_base_url("example.signalwire.com") == BASE
    assert space_base_url("https://example.signalwire.com/") == BASE
    assert space_base_url("example") == BASE
    with pytest.raises(ConfigurationError, match="Space URL"):
        SignalWireCredentials(project_id=PROJECT, api_token="t", space_url="")


@respx.mock
def test_create_sends_the_documented_form_with_basic_auth(client):
    route = respx.post(MESSAGES).respond(201, json=resource())
    msg = client.create_message(
        "+15551230002",
        "+15551230001",
        "Nightly backup finished",
        ["https://example.com/a.png", "https://example.com/b.png"],
        "https://hooks.example.com/sw/status",
    )
    request = route.calls.last.request
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.headers["authorization"].startswith("Basic ")
    assert request.content == (
        b"To=%2B15551230002&From=%2B15551230001&Body=Nightly+backup+finished"
        b"&MediaUrl=https%3A%2F%2Fexample.com%2Fa.png&MediaUrl=https%3A%2F%2Fexample.com%2Fb.png"
        b"&StatusCallback=https%3A%2F%2Fhooks.example.com%2Fsw%2Fstatus"
    )
    assert msg.sid == "0a059168-ead0-41af-9d1f-343dae832527" and msg.state is MessageState.QUEUED


@respx.mock
def test_a_201_that_is_already_failed_keeps_its_error_code(client):
    respx.post(MESSAGES).respond(
        201,
        json=resource(
            status="failed",
            error_code="21601",
            error_message="Phone number is not a SMS-capable phone number.",
        ),
    )
    msg = client.create_message("+15551230002", "+15551230001", "hi")
    assert msg.state is MessageState.FAILED and msg.error_code == "21601"
    assert "not SMS/MMS capable" in (msg.observation().error_meaning or "")


@respx.mock
def test_error_code_given_as_a_number_is_read_as_text(client):
    respx.get(MESSAGES.replace("Messages.json", "Messages/x.json")).respond(
        200, json=resource(sid="x", status="undelivered", error_code=30003)
    )
    assert client.fetch_message("x").error_code == "30003"


@respx.mock
def test_wrong_token_says_which_fields_to_check_and_never_shows_the_token(client):
    respx.post(MESSAGES).respond(
        401,
        json={
            "code": 20003,
            "message": "Authentication Error - invalid username",
            "more_info": "https://signalwire.com/docs",
            "status": 401,
        },
    )
    with pytest.raises(AuthenticationError) as err:
        client.create_message("+15551230002", "+15551230001", "hi")
    text = str(err.value)
    assert "API Token (password)" in text and "Project ID (login)" in text
    assert "PT-secret-token" not in text
    assert respx.calls.call_count == 1  # not retried


@respx.mock
def test_post_is_retried_on_429_honouring_retry_after(client, monkeypatch):
    sleeps: list[float] = []
    monkeypatch.setattr("time.sleep", sleeps.append)
    respx.post(MESSAGES).mock(
        side_effect=[
            httpx.Response(
                429, headers={"Retry-After": "7"}, json={"code": 20429, "message": "Too Many Requests"}
            ),
            httpx.Response(201, json=resource()),
        ]
    )
    assert client.create_message("+15551230002", "+15551230001", "hi").sid
    assert sleeps == [7.0]


@respx.mock
def test_post_is_retried_on_503_but_not_on_500(client):
    respx.post(MESSAGES).mock(
        side_effect=[httpx.Response(503, text="busy"), httpx.Response(201, json=resource())]
    )
    assert client.create_message("+15551230002", "+15551230001", "hi").sid
    respx.post(MESSAGES).mock(
        side_effect=[httpx.Response(500, text="oops"), httpx.Response(201, json=resource())]
    )
    with pytest.raises(OutcomeUnknownError, match="not resent"):
        client.create_message("+15551230002", "+15551230001", "hi")


@respx.mock
def test_post_timeout_after_sending_is_an_unknown_outcome_not_a_retry(client):
    route = respx.post(MESSAGES).mock(side_effect=httpx.ReadTimeout("timed out"))
    with pytest.raises(OutcomeUnknownError):
        client.create_message("+15551230002", "+15551230001", "hi")
    assert route.call_count == 1


@respx.mock
def test_post_is_retried_when_the_connection_never_opened(client):
    route = respx.post(MESSAGES).mock(
        side_effect=[httpx.ConnectError("refused"), httpx.Response(201, json=resource())]
    )
    assert client.create_message("+15551230002", "+15551230001", "hi").sid
    assert route.call_count == 2


@respx.mock
def test_get_is_retried_on_500_then_gives_up_with_a_transient_error(client):
    route = respx.get(MESSAGES.replace("Messages.json", "Messages/s.json")).respond(500, text="down")
    with pytest.raises(ServiceUnavailableError):
        client.fetch_message("s")
    assert route.call_count == 3


@respx.mock
def test_unknown_message_is_not_found(client):
    respx.get(MESSAGES.replace("Messages.json", "Messages/nope.json")).respond(
        404, json={"code": 20404, "message": "Not found", "more_info": "", "status": 404}
    )
    with pytest.raises(MessageNotFoundError):
        client.fetch_message("nope")


@respx.mock
def test_rejection_names_the_code_and_what_to_do(client):
    respx.post(MESSAGES).respond(
        400,
        json={
            "code": 21610,
            "message": "Attempt to send to unsubscribed recipient",
            "more_info": "",
            "status": 400,
        },
    )
    with pytest.raises(PermanentError) as err:
        client.create_message("+15551230002", "+15551230001", "hi")
    assert "21610" in str(err.value) and "replied STOP" in str(err.value)
    assert err.value.code == "21610"


@respx.mock
def test_list_follows_next_page_uri(client):
    page0 = {
        "messages": [resource(sid="a"), resource(sid="b")],
        "next_page_uri": f"/api/laml/2010-04-01/Accounts/{PROJECT}/Messages.json?PageSize=2&Page=1&PageToken=PAb",
    }
    page1 = {"messages": [resource(sid="c")], "next_page_uri": None}
    respx.get(MESSAGES, params={"Page": "1"}).respond(200, json=page1)
    respx.get(MESSAGES).respond(200, json=page0)
    assert [m.sid for m in client.list_messages(page_size=2)] == ["a", "b", "c"]
    assert [m.sid for m in client.list_messages(page_size=2, limit=1)] == ["a"]


@respx.mock
async def test_async_client_shares_the_same_rules():
    creds = SignalWireCredentials(project_id=PROJECT, api_token="t", space_url="example.signalwire.com")
    respx.post(MESSAGES).respond(201, json=resource())
    respx.get(MESSAGES.replace("Messages.json", "Messages/s.json")).respond(
        200, json=resource(sid="s", status="delivered")
    )
    async with AsyncSignalWireRestClient(creds, retry_policy=FAST) as c:
        assert (await c.create_message("+15551230002", "+15551230001", "hi")).sid
        assert (await c.fetch_message("s")).state is MessageState.DELIVERED
        respx.post(MESSAGES).respond(429, json={"code": 20429, "message": "slow down"})
        with pytest.raises(RateLimitedError):
            await c.create_message("+15551230002", "+15551230001", "hi")


def test_empty_credentials_are_refused_before_any_request():
    with pytest.raises(ConfigurationError, match="API Token"):
        SignalWireCredentials(project_id="p", api_token="", space_url="x")


@pytest.mark.parametrize("token", ["PT-secret\n", "PT secret", "PT-sécret"])
def test_a_token_that_cannot_go_into_a_header_is_refused_without_showing_it(token):
    with pytest.raises(ConfigurationError, match="API Token") as caught:
        SignalWireCredentials(project_id="p", api_token=token, space_url="x")
    assert "secret" not in str(caught.value).replace("secrets file", "")
