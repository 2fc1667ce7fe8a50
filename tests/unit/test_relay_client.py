"""Relay client pieces that need no server: URLs, event parsing, secrets, bad input."""

from __future__ import annotations

import pytest

from airflow_provider_messaging.core.errors import PermanentError
from airflow_provider_messaging.signalwire.credentials import SignalWireCredentials
from airflow_provider_messaging.signalwire.relay import RelayClient, RelayMessage, relay_url


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("example.signalwire.com", "wss://example.signalwire.com"),
        ("", "wss://relay.signalwire.com"),
        ("ws://127.0.0.1:8787", "ws://127.0.0.1:8787"),
        ("http://127.0.0.1:8787/", "ws://127.0.0.1:8787"),
        ("https://example.signalwire.com", "wss://example.signalwire.com"),
    ],
)
def test_relay_url_follows_the_sdks(host, url):
    assert relay_url(host) == url


def test_state_event_as_the_service_sends_it():
    event = {"event_type": "messaging.state", "context": "office", "timestamp": 1570191488.717304,
             "params": {"message_id": "2c0e265d", "context": "office", "direction": "outbound", "tags": ["t"],
                        "from_number": "+15551230001", "to_number": "+15551230002", "body": "hi", "media": [],
                        "segments": 1, "message_state": "undelivered", "reason": "unreachable"}}  # fmt: skip
    message = RelayMessage.from_event(event)
    assert (message.message_id, message.state, message.reason, message.tags) == (
        "2c0e265d", "undelivered", "unreachable", ["t"])  # fmt: skip
    inbound = RelayMessage.from_event(
        {**event, "params": {**event["params"], "direction": "inbound"}}
    ).as_inbound()
    assert (inbound.service, inbound.sender, inbound.text) == ("signalwire", "+15551230001", "hi")


def test_the_token_never_shows_and_an_unsubscribed_context_is_refused_before_any_io():
    credentials = SignalWireCredentials(
        project_id="project-1", api_token="PT-secret-token", space_url="example.signalwire.com"
    )
    client = RelayClient(credentials, contexts=["office"])
    assert "PT-secret-token" not in repr(client)
    with pytest.raises(PermanentError, match="'home' is not one of this client's contexts"):
        client.send("home", "+15551230002", "+15551230001", "hi")
