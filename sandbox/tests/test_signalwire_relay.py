"""Relay v2 (Blade framing) over the WebSocket at the root path: connect, set up, send, hear states."""

from __future__ import annotations

from typing import Any

from messaging_sandbox.config import SandboxConfig

CONFIG = SandboxConfig()


class Blade:
    """The frames a Relay 2.x client sends on a fresh connection, just enough to test with."""

    def __init__(self, ws: Any) -> None:
        self.ws, self.next_id, self.protocol = ws, 0, ""

    def call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self.next_id += 1
        frame_id = str(self.next_id)
        self.ws.send_json({"jsonrpc": "2.0", "id": frame_id, "method": method, "params": params})
        while True:
            frame = self.ws.receive_json()
            if frame.get("id") == frame_id and "method" not in frame:
                return dict(frame)

    def execute(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        return self.call("blade.execute", {"protocol": self.protocol, "method": method, "params": params})

    def ready(self, context: str) -> None:
        auth = {"project": CONFIG.signalwire_project, "token": CONFIG.signalwire_token}
        assert "result" in self.call("blade.connect", {"version": {"major": 2, "minor": 1, "revision": 0},
                                                       "authentication": auth})  # fmt: skip
        setup = self.call("blade.execute", {"protocol": "signalwire", "method": "setup", "params": {}})
        self.protocol = setup["result"]["result"]["protocol"]
        self.call(
            "blade.subscription", {"command": "add", "protocol": self.protocol, "channels": ["notifications"]}
        )
        self.execute("signalwire.receive", {"contexts": [context]})

    def send(self, to: str, **content: Any) -> dict[str, Any]:
        """``messaging.send`` on context ``office``; the inner result (code, message, message_id)."""
        params = {"context": "office", "to_number": to, "from_number": "+15551230001", **content}
        return dict(self.execute("messaging.send", params)["result"]["result"])

    def states(self, message_id: str, until: str) -> list[dict[str, Any]]:
        seen: list[dict[str, Any]] = []
        while not seen or seen[-1]["message_state"] != until:
            frame = self.ws.receive_json()
            if frame.get("method") != "blade.broadcast":
                continue
            event = frame["params"]["params"]
            if event["event_type"] == "messaging.state" and event["params"]["message_id"] == message_id:
                seen.append(event["params"])
        return seen


def test_a_relay_send_is_accepted_and_its_states_follow(client):
    with client.websocket_connect("/") as ws:
        blade = Blade(ws)
        blade.ready("office")
        result = blade.send("+15550001002", body="€" * 81)
        assert (result["code"], result["message"]) == ("200", "Message accepted")
        states = blade.states(result["message_id"], until="undelivered")
    assert [s["message_state"] for s in states] == ["queued", "initiated", "sent", "undelivered"]
    assert states[-1]["reason"] == "Unreachable Destination Handset" and states[-1]["segments"] == 2


def test_a_relay_send_outside_the_rules_is_a_bad_request(client):
    with client.websocket_connect("/") as ws:
        blade = Blade(ws)
        blade.ready("office")
        too_long = blade.send("+15550001001", body="x" * 1601)
        too_much = blade.send("+15550001001", media=["https://e.com/a"] * 9)
        not_e164 = blade.send("5550001001", body="hi")
    assert too_long["code"] == "400" and "1600" in too_long["message"]
    assert too_much["code"] == "400" and "8 media" in too_much["message"]
    assert not_e164["code"] == "400"


class Current:
    """The frames signalwire-sdk 3.x's RelayClient sends (``signalwire.connect`` framing)."""

    def __init__(self, ws: Any) -> None:
        self.ws, self.next_id, self.events = ws, 0, []

    def call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self.next_id += 1
        frame_id = f"c{self.next_id}"
        self.ws.send_json({"jsonrpc": "2.0", "id": frame_id, "method": method, "params": params})
        while True:
            frame = self.receive()
            if frame.get("id") == frame_id and "method" not in frame:
                return dict(frame)

    def receive(self) -> dict[str, Any]:
        frame = dict(self.ws.receive_json())
        if frame.get("method") == "signalwire.event":
            self.ws.send_json({"jsonrpc": "2.0", "id": frame["id"], "result": {}})  # acknowledged
            self.events.append(frame["params"])
        return frame

    def connect(self, contexts: list[str], **extra: Any) -> dict[str, Any]:
        auth = {"project": CONFIG.signalwire_project, "token": CONFIG.signalwire_token}
        return self.call("signalwire.connect", {"version": {"major": 2, "minor": 0, "revision": 0},
                                                "event_acks": True, "authentication": auth,
                                                "contexts": contexts, **extra})  # fmt: skip

    def states(self, message_id: str, until: str) -> list[str]:
        def seen() -> list[str]:
            return [e["params"]["message_state"] for e in self.events
                    if e["event_type"] == "messaging.state" and e["params"]["message_id"] == message_id]  # fmt: skip

        while until not in seen():
            self.receive()
        return seen()


def test_the_current_framing_sends_and_acknowledged_state_events_follow(client):
    with client.websocket_connect("/") as ws:
        relay = Current(ws)
        connected = relay.connect(["office"])["result"]
        assert connected["protocol"].startswith("signalwire_") and connected["session_restored"] is False
        result = relay.call("messaging.send", {"context": "office", "to_number": "+15550001001",
                                                "from_number": "+15551230001", "body": "hi"})["result"]  # fmt: skip
        assert (result["code"], result["message"]) == ("200", "Message accepted")
        assert relay.states(result["message_id"], until="delivered") == [
            "queued",
            "initiated",
            "sent",
            "delivered",
        ]
        assert relay.events[0]["event_type"] == "signalwire.authorization.state"
        (view,) = client.get("/_sandbox/signalwire/relay/connections").json()["connections"]
    assert view["relay_protocol"] == "signalwire" and view["unacknowledged_events"] == 0


def test_a_reconnect_with_the_protocol_resumes_the_session_and_its_contexts(client):
    with client.websocket_connect("/") as ws:
        protocol = Current(ws).connect(["office"])["result"]["protocol"]
    with client.websocket_connect("/") as ws:
        relay = Current(ws)
        resumed = relay.connect([], protocol=protocol)["result"]
        assert (resumed["protocol"], resumed["session_restored"]) == (protocol, True)
        bad = relay.call("messaging.send", {"context": "office", "to_number": "5550001001",
                                             "from_number": "+15551230001", "body": "hi"})["result"]  # fmt: skip
        (view,) = client.get("/_sandbox/signalwire/relay/connections").json()["connections"]
    assert view["contexts"] == ["office"] and bad["code"] == "400"


def test_the_current_framing_refuses_wrong_credentials_and_requests_before_connect(client):
    with client.websocket_connect("/") as ws:
        relay = Current(ws)
        early = relay.call("messaging.send", {"context": "office"})
        refused = relay.call("signalwire.connect", {"authentication": {"project": "p", "token": "wrong"}})
    assert early["error"]["code"] == -32000 and refused["error"]["code"] == -32002
