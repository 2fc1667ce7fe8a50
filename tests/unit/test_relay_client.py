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


class FakeLink:
    """What a framing writes and hands over, with the answers a server would give."""

    def __init__(self, answers=None, contexts=("office",)):
        self.contexts = list(contexts)
        self.answers = answers or {}
        self.requests, self.replies, self.events, self.held = [], [], [], 0

    def request(self, method, params, timeout=None):
        self.requests.append((method, params))
        return self.answers.get(method, {})

    def reply(self, frame_id, result):
        self.replies.append((frame_id, result))

    def deliver(self, event):
        self.events.append(event)

    def hold_sends(self):
        self.held += 1


def test_the_current_framing_connects_acks_events_and_resumes_its_session():
    from airflow_provider_messaging.signalwire.relay_framing import SignalWireFraming

    link = FakeLink({"signalwire.connect": {"protocol": "signalwire_abc", "identity": "x"}})
    framing = SignalWireFraming()
    framing.connect(link, "project-1", "PT-token")
    method, params = link.requests[0]
    assert method == "signalwire.connect" and params["event_acks"] is True
    assert params["version"] == {"major": 2, "minor": 0, "revision": 0} and params["contexts"] == ["office"]
    assert "protocol" not in params and framing.protocol == "signalwire_abc"
    framing.on_request(link, "signalwire.event", "e1", {"event_type": "signalwire.authorization.state",
                                                        "params": {"authorization_state": "blob"}})  # fmt: skip
    framing.on_request(
        link, "signalwire.event", "e2", {"event_type": "messaging.state", "params": {"message_id": "m"}}
    )
    framing.on_request(link, "signalwire.ping", "p1", {"timestamp": 1.0})
    assert link.replies == [("e1", {}), ("e2", {}), ("p1", {})]  # every event acknowledged, pings answered
    assert [e["event_type"] for e in link.events] == ["messaging.state"]
    framing.connect(link, "project-1", "PT-token")  # a reconnect resumes the session
    assert link.requests[-1][1]["protocol"] == "signalwire_abc"
    assert link.requests[-1][1]["authorization_state"] == "blob"
    framing.on_request(link, "signalwire.disconnect", "d1", {"restart": True})
    assert link.held == 1 and framing.protocol is None and framing.authorization_state is None
    assert framing.accepted("200") and framing.accepted("202") and not framing.accepted("400")


def test_the_blade_framing_sets_up_subscribes_and_takes_broadcasts_of_its_protocol_only():
    from airflow_provider_messaging.signalwire.relay_framing import BladeFraming

    link = FakeLink({"blade.execute": {"result": {"protocol": "signalwire_xyz"}}})
    framing = BladeFraming()
    framing.connect(link, "project-1", "PT-token")
    assert [m for m, _ in link.requests] == [
        "blade.connect",
        "blade.execute",
        "blade.subscription",
        "blade.execute",
    ]
    assert link.requests[-1][1] == {"protocol": "signalwire_xyz", "method": "signalwire.receive",
                                    "params": {"contexts": ["office"]}}  # fmt: skip
    framing.on_request(link, "blade.broadcast", "b1", {"protocol": "other", "params": {"event_type": "x"}})
    framing.on_request(
        link, "blade.broadcast", "b2", {"protocol": "signalwire_xyz", "params": {"event_type": "y"}}
    )
    assert [e["event_type"] for e in link.events] == ["y"] and link.replies == []
    assert framing.accepted("200") and not framing.accepted("202")


def test_an_unknown_relay_protocol_is_refused_naming_the_field():
    from airflow_provider_messaging.core.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match=r"relay_protocol\): 'v3' is not a Relay protocol"):
        SignalWireCredentials(project_id="p", api_token="t", space_url="s", relay_protocol="v3")
    credentials = SignalWireCredentials.from_connection(
        "sw", host="example.signalwire.com", login="p", password="t", extras={"relay_protocol": "blade"}
    )
    assert RelayClient(credentials).relay_protocol == "blade"
    assert RelayClient(credentials, relay_protocol="signalwire").relay_protocol == "signalwire"
