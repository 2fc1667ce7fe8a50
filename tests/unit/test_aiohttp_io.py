"""The async clients' default I/O (aiohttp) against a socket on loopback: what was sent, what came back,
and above all which failures may have reached the service (never resent) and which cannot have."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest

from airflow_provider_messaging.core.errors import (
    OutcomeUnknownError,
    RateLimitedError,
    ServiceUnavailableError,
)
from airflow_provider_messaging.core.retry import RetryPolicy
from airflow_provider_messaging.signalwire.credentials import SignalWireCredentials
from airflow_provider_messaging.signalwire.rest import AsyncSignalWireRestClient
from airflow_provider_messaging.whatsapp.cloud import AsyncWhatsAppCloudClient, WhatsAppCredentials
from airflow_provider_messaging.whatsapp.messages import Text

pytestmark = pytest.mark.aiohttp
ONCE = RetryPolicy(max_attempts=1)
OK = b'{"messaging_product":"whatsapp","contacts":[{"input":"x","wa_id":"4915112345678"}],"messages":[{"id":"wamid.OK"}]}'


class Server:
    """Answers each request as ``behaviour`` says, and keeps what it received."""

    def __init__(self, behaviour: str) -> None:
        self.behaviour = behaviour
        self.requests: list[tuple[str, dict[str, str], bytes]] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        line, *fields = head.strip().split("\r\n")
        headers = {k.lower(): v.strip() for k, v in (f.split(":", 1) for f in fields)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        self.requests.append((line, headers, body))
        if self.behaviour == "close":  # the request arrived; the connection drops before an answer
            writer.close()
            return
        if self.behaviour == "stall":
            await asyncio.sleep(5)
        if self.behaviour == "429":
            error = b'{"error":{"message":"(#130429) Rate limit hit","type":"OAuthException","code":130429}}'
            writer.write(b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nRetry-After: 7\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(error), error))  # fmt: skip
        else:
            body = OK if "/messages" in line else b'{"sid":"SM1","status":"queued","to":"+15551230002"}'
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                         % (len(body), body))  # fmt: skip
        await writer.drain()
        writer.close()


async def serve(behaviour: str) -> tuple[Server, asyncio.AbstractServer, str]:
    server = Server(behaviour)
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    return server, listener, f"http://127.0.0.1:{port}"


def whatsapp(url: str, timeout: float = 5.0) -> AsyncWhatsAppCloudClient:
    creds = WhatsAppCredentials(access_token="EAAG-secret", phone_number_id="106500000000001", base_url=url)
    return AsyncWhatsAppCloudClient(creds, retry_policy=ONCE, timeout=timeout)


async def test_a_send_posts_the_json_with_the_token_and_reads_the_message_id():
    server, listener, url = await serve("ok")
    async with listener, whatsapp(url) as client:
        assert client.session._aio is not None  # the default I/O, not httpx
        result = await client.send("+4915112345678", Text("hi"))
    assert result.message_id == "wamid.OK"
    line, headers, body = server.requests[0]
    assert line == "POST /v25.0/106500000000001/messages HTTP/1.1"
    assert headers["authorization"] == "Bearer EAAG-secret"
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"] == "airflow-provider-messaging"
    assert json.loads(body)["to"] == "4915112345678"


async def test_a_form_post_with_basic_auth_is_encoded_as_httpx_encodes_it():
    server, listener, url = await serve("ok")
    creds = SignalWireCredentials(project_id="proj", api_token="PTsecret", base_url=url)
    async with listener, AsyncSignalWireRestClient(creds, retry_policy=ONCE) as client:
        await client.create_message("+15551230002", "+15551230001", "hi there")
    line, headers, body = server.requests[0]
    assert line == "POST /api/laml/2010-04-01/Accounts/proj/Messages.json HTTP/1.1"
    assert headers["authorization"] == "Basic cHJvajpQVHNlY3JldA=="  # proj:PTsecret
    assert headers["content-type"] == "application/x-www-form-urlencoded"
    assert b"Body=hi+there" in body and b"To=%2B15551230002" in body


async def test_a_dropped_connection_after_the_request_left_is_an_unknown_outcome():
    server, listener, url = await serve("close")
    async with listener, whatsapp(url) as client:
        with pytest.raises(OutcomeUnknownError, match="not resent"):
            await client.send("+4915112345678", Text("hi"))
    assert len(server.requests) == 1


async def test_no_answer_in_time_is_an_unknown_outcome():
    _, listener, url = await serve("stall")
    async with listener, whatsapp(url, timeout=0.3) as client:
        with pytest.raises(OutcomeUnknownError):
            await client.send("+4915112345678", Text("hi"))


async def test_a_refused_connection_never_left_so_it_may_be_tried_again():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    async with whatsapp(f"http://127.0.0.1:{port}") as client:
        with pytest.raises(ServiceUnavailableError) as raised:
            await client.send("+4915112345678", Text("hi"))
    assert not isinstance(raised.value, OutcomeUnknownError)
    assert "ConnectError" in str(raised.value)


async def test_a_rate_limit_keeps_its_code_and_retry_after():
    _, listener, url = await serve("429")
    async with listener, whatsapp(url) as client:
        with pytest.raises(RateLimitedError) as raised:
            await client.send("+4915112345678", Text("hi"))
    assert raised.value.retry_after == 7.0
    assert raised.value.code == "130429"
