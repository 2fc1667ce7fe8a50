from __future__ import annotations

import json

import httpx
import pytest
import respx

from airflow_provider_messaging.core.errors import (
    AuthenticationError,
    ConfigurationError,
    OutcomeUnknownError,
    RateLimitedError,
    RecipientError,
    TemplateError,
    WindowClosedError,
)
from airflow_provider_messaging.core.retry import RetryPolicy
from airflow_provider_messaging.whatsapp.cloud import (
    AsyncWhatsAppCloudClient,
    WhatsAppCloudClient,
    WhatsAppCredentials,
)
from airflow_provider_messaging.whatsapp.messages import Template, Text

MESSAGES = "https://graph.facebook.com/v25.0/106500000000001/messages"
TEMPLATES = "https://graph.facebook.com/v25.0/2000/message_templates"
CREDS = WhatsAppCredentials(access_token="EAAG-secret", phone_number_id="106500000000001", waba_id="2000")
FAST = RetryPolicy(max_attempts=3, initial_backoff=0.0, max_backoff=0.0)
OK = {"messaging_product": "whatsapp", "contacts": [{"input": "4915112345678", "wa_id": "4915112345678"}],
      "messages": [{"id": "wamid.ABC", "message_status": "accepted"}]}  # fmt: skip


def graph_error(code, message="(#x) error", status=400, **extra):
    return httpx.Response(status, json={"error": {"message": message, "type": "OAuthException", "code": code,
                                                  "fbtrace_id": "Trace1", **extra}})  # fmt: skip


@pytest.fixture
def client():
    with WhatsAppCloudClient(CREDS, retry_policy=FAST) as c:
        yield c


@respx.mock
def test_send_posts_json_with_bearer_auth_and_parses_the_wamid(client):
    route = respx.post(MESSAGES).respond(200, json=OK)
    result = client.send("+4915112345678", Text("hi"), callback_data="k=1")
    request = route.calls.last.request
    assert request.headers["authorization"] == "Bearer EAAG-secret"
    assert json.loads(request.content)["biz_opaque_callback_data"] == "k=1"
    assert (result.message_id, result.details["wa_id"], result.status) == (
        "wamid.ABC",
        "4915112345678",
        "accepted",
    )


@pytest.mark.parametrize(
    ("code", "error_type"),
    [(190, AuthenticationError), (131047, WindowClosedError), (132001, TemplateError), (131026, RecipientError),
     (33, ConfigurationError)],
)  # fmt: skip
@respx.mock
def test_error_codes_become_errors_that_say_what_to_do(client, code, error_type):
    route = respx.post(MESSAGES).mock(return_value=graph_error(code))
    with pytest.raises(error_type) as err:
        client.send("+4915112345678", Text("hi"))
    assert f"code {code}" in str(err.value) and "Trace1" in str(err.value)
    assert "EAAG-secret" not in str(err.value)
    assert route.call_count == 1


@respx.mock
def test_window_closed_says_to_send_a_template(client):
    respx.post(MESSAGES).mock(
        return_value=graph_error(131047, error_data={"details": "Message failed to send"})
    )
    with pytest.raises(WindowClosedError, match="send an approved template"):
        client.send("+4915112345678", Text("hi"))


@respx.mock
def test_throughput_limit_is_retried_then_succeeds(client, monkeypatch):
    monkeypatch.setattr("time.sleep", lambda s: None)
    route = respx.post(MESSAGES).mock(side_effect=[graph_error(130429), httpx.Response(200, json=OK)])
    assert client.send("+4915112345678", Text("hi")).message_id == "wamid.ABC"
    assert route.call_count == 2


@respx.mock
def test_is_transient_flag_overrides_the_table(client, monkeypatch):
    monkeypatch.setattr("time.sleep", lambda s: None)
    route = respx.post(MESSAGES).mock(return_value=graph_error(100, is_transient=True))
    with pytest.raises(Exception):  # noqa: B017
        client.send("+4915112345678", Text("hi"))
    assert route.call_count == 3


@respx.mock
def test_timeout_after_sending_is_not_resent(client):
    route = respx.post(MESSAGES).mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(OutcomeUnknownError):
        client.send("+4915112345678", Text("hi"))
    assert route.call_count == 1


@respx.mock
def test_unreadable_500_on_send_is_an_unknown_outcome(client):
    respx.post(MESSAGES).respond(500, text="<html>oops</html>")
    with pytest.raises(OutcomeUnknownError):
        client.send("+4915112345678", Text("hi"))


@respx.mock
def test_mark_as_read_body(client):
    route = respx.post(MESSAGES).respond(200, json={"success": True})
    assert client.mark_as_read("wamid.IN", typing_indicator=True)
    assert json.loads(route.calls.last.request.content) == {
        "messaging_product": "whatsapp", "status": "read", "message_id": "wamid.IN", "typing_indicator": {"type": "text"}
    }  # fmt: skip


@respx.mock
def test_templates_are_listed_across_pages(client):
    respx.get(TEMPLATES, params={"after": "C1"}).respond(
        200, json={"data": [{"name": "b", "language": "en", "status": "APPROVED"}]}
    )
    respx.get(TEMPLATES).respond(200, json={"data": [{"name": "a", "language": "en", "status": "approved"}],
                                            "paging": {"next": f"{TEMPLATES}?after=C1"}})  # fmt: skip
    templates = list(client.list_templates())
    assert [(t.name, t.status) for t in templates] == [("a", "APPROVED"), ("b", "APPROVED")]


def test_templates_need_a_waba_id():
    creds = WhatsAppCredentials(access_token="t", phone_number_id="1")
    with WhatsAppCloudClient(creds) as c, pytest.raises(ConfigurationError, match="WABA id"):
        list(c.list_templates())


@respx.mock
async def test_async_client_sends_and_maps_errors():
    respx.post(MESSAGES).mock(side_effect=[httpx.Response(200, json=OK), graph_error(131056, status=400)])
    async with AsyncWhatsAppCloudClient(CREDS, retry_policy=RetryPolicy(max_attempts=1)) as c:
        assert (await c.send("+4915112345678", Template("hello_world", "en_US"))).message_id == "wamid.ABC"
        with pytest.raises(RateLimitedError, match="pair rate limit"):
            await c.send("+4915112345678", Text("again"))


@respx.mock
def test_error_texts_name_the_connection_and_keep_one_full_stop():
    creds = WhatsAppCredentials(
        access_token="EAAG-secret", phone_number_id="106500000000001", conn_id="wa_ops"
    )
    respx.post(MESSAGES).mock(return_value=graph_error(190, "Error validating access token.", status=401))
    with WhatsAppCloudClient(creds, retry_policy=FAST) as c, pytest.raises(AuthenticationError) as err:
        c.send("+4915112345678", Text("hi"))
    text = str(err.value)
    assert ".." not in text and "Check the access token (password) of connection 'wa_ops'" in text
    assert "EAAG-secret" not in text


@respx.mock
def test_an_unreachable_graph_api_names_the_base_url_to_check():
    creds = WhatsAppCredentials(
        access_token="t", phone_number_id="1", base_url="http://127.0.0.1:9", conn_id="wa_x"
    )
    respx.get("http://127.0.0.1:9/v25.0/1").mock(side_effect=httpx.ConnectError("refused"))
    with WhatsAppCloudClient(creds, retry_policy=FAST) as c, pytest.raises(Exception) as err:
        c.get_phone_number()
    assert "Check the base URL (extra base_url) of connection 'wa_x'" in str(err.value)
