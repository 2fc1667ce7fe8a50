"""Relay frames the client cannot read, from a loopback server that sends them on purpose.

A frame that is not a JSON object, or an answer of an unexpected shape, must not stop the reader:
it is skipped, a request it answers fails with what was wrong, and a connection that never becomes
ready says why instead of blaming the Space URL.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from airflow_provider_messaging.core.errors import (
    AuthenticationError,
    OutcomeUnknownError,
    ServiceUnavailableError,
)
from airflow_provider_messaging.signalwire.credentials import SignalWireCredentials
from airflow_provider_messaging.signalwire.relay import RelayClient

pytestmark = pytest.mark.integration
TOKEN = "PT-relay-token-never-shown"
NOT_OBJECTS = ["[]", '"x"', "42", "null", "{not json", '{"method": "signalwire.event", "params": [1]}',
               '{"method": "signalwire.event", "params": {"event_type": "messaging.state", "params": [1]}}']  # fmt: skip

Answer = Callable[[dict[str, Any]], list[str]]


def good(frame: dict[str, Any]) -> list[str]:
    """What a Relay server answers in the current framing."""
    if frame["method"] == "signalwire.connect":
        result: dict[str, Any] = {"protocol": "signalwire_fake", "identity": "fake"}
    elif frame["method"] == "messaging.send":
        result = {"code": "200", "message": "Message accepted", "message_id": "m-1"}
    else:
        result = {}
    return [json.dumps({"jsonrpc": "2.0", "id": frame["id"], "result": result})]


@contextmanager
def relay_server(answer: Answer) -> Iterator[str]:
    """A Relay server on loopback that answers each request with the frames ``answer`` gives."""
    from websockets.sync.server import serve

    def handle(ws: Any) -> None:
        for text in ws:
            for reply in answer(json.loads(text)):
                ws.send(reply)

    server = serve(handle, "127.0.0.1", 0, compression=None)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"ws://127.0.0.1:{server.socket.getsockname()[1]}"
    finally:
        server.shutdown()
        thread.join(5)


def client(url: str) -> RelayClient:
    credentials = SignalWireCredentials(project_id="p-1", api_token=TOKEN, base_url=url)
    return RelayClient(credentials, contexts=["office"], request_timeout=1.0, ping_interval=30)


@pytest.mark.parametrize("bad", NOT_OBJECTS)
def test_a_frame_that_is_not_a_json_object_is_skipped_and_the_client_keeps_working(bad):
    def answer(frame):
        return [bad, *good(frame)]  # before every answer

    with relay_server(answer) as url, client(url) as relay:
        assert relay.send("office", "+15550001001", "+15551230001", "hi").message_id == "m-1"


def test_an_error_with_a_code_that_is_not_an_integer_is_reported_as_the_server_gave_it():
    def answer(frame):
        error = {
            "code": "AUTH_FAILED",
            "message": "Project not found",
            "data": {"signalwire_error_code": "X1"},
        }
        return [json.dumps({"jsonrpc": "2.0", "id": frame["id"], "error": error})]

    with relay_server(answer) as url:
        relay = client(url)
        with pytest.raises(AuthenticationError, match=r"Relay error AUTH_FAILED: Project not found \(X1\)"):
            relay.connect(timeout=5)
        relay.close()


def refusal_to_connect(answer, timeout):
    """The text of the error ``connect`` raises against a server that answers with ``answer``."""
    with relay_server(answer) as url:
        relay = client(url)
        with pytest.raises(ServiceUnavailableError) as failed:
            relay.connect(timeout=timeout)
        relay.close()
    return str(failed.value)


@pytest.mark.parametrize("result", ["42", "[]", '"ok"'])
def test_an_unreadable_answer_to_connect_is_the_cause_given(result):
    def answer(frame):
        return [f'{{"jsonrpc": "2.0", "id": "{frame["id"]}", "result": {result}}}']

    text = refusal_to_connect(answer, timeout=2)
    assert (
        "answered signalwire.connect with an answer whose result is" in text and "not a JSON object" in text
    )
    assert "Space URL" not in text and TOKEN not in text


def test_a_connection_that_never_becomes_ready_names_the_frames_it_got():
    def answer(frame):
        return ["[]"]  # never a real answer

    text = refusal_to_connect(answer, timeout=2.5)
    assert "no answer to signalwire.connect within 1 s" in text
    assert "the server sent a frame that is an array, not a JSON object" in text


def test_an_unreadable_answer_to_a_send_is_an_unknown_outcome_and_the_client_goes_on():
    sends = []

    def answer(frame):
        if frame["method"] == "messaging.send":
            sends.append(frame)
            if len(sends) == 1:
                return [json.dumps({"jsonrpc": "2.0", "id": frame["id"], "result": ["accepted"]})]
        return good(frame)

    with relay_server(answer) as url, client(url) as relay:
        with pytest.raises(
            OutcomeUnknownError, match=r"answered messaging\.send with an answer whose result is an array"
        ):
            relay.send("office", "+15550001001", "+15551230001", "first")
        assert relay.send("office", "+15550001001", "+15551230001", "second").message_id == "m-1"
    assert len(sends) == 2  # the first was not resent
