"""SignalWire's own SDKs, unmodified, send through the sandbox and see their messages delivered.

- ``signalwire`` 2.1.1's Relay ``Consumer`` (Blade framing) over ``ws://``;
- ``signalwire-sdk`` 3.x's ``RelayClient`` (``signalwire.connect`` framing), which only speaks
  ``wss://{host}``: the sandbox serves TLS with a throwaway CA named by ``SIGNALWIRE_RELAY_CA_FILE``;
- ``signalwire-sdk`` 3.x's ``RestClient``: the native Messaging API and the message logs (it speaks
  plain http to a loopback host).

Each runs in its own virtualenv (``tests/official_sdks.py``); the sandbox shows what each sent
and which Relay framing it spoke.
"""

from __future__ import annotations

import json
from dataclasses import replace

import httpx
import pytest

from messaging_sandbox.config import SandboxConfig
from messaging_sandbox.server import SandboxServer

pytestmark = pytest.mark.integration
FAST = SandboxConfig(port=0, sent_delay=0.05, delivered_delay=0.05)
SENDER = "+15551230001"

CONSUMER_2X = r"""
import json, sys
from signalwire.relay.consumer import Consumer

job = json.load(sys.stdin)

class Sender(Consumer):
    def setup(self):
        self.project, self.token, self.host = job["project"], job["token"], job["host"]
        self.contexts = ["office"]

    async def ready(self):
        result = await self.client.messaging.send(
            context="office", from_number=job["from"], to_number=job["to"], body="sent by signalwire 2.1.1")
        print(json.dumps({"successful": result.successful, "message_id": result.message_id}), flush=True)

    async def on_message_state_change(self, message):
        print(json.dumps({"id": message.id, "state": message.state}), flush=True)
        if message.state in ("delivered", "undelivered", "failed"):
            await self.client.disconnect()

Sender().run()
"""

RELAY_CLIENT_3X = r"""
import asyncio, json, sys
from signalwire.relay import RelayClient

job = json.load(sys.stdin)

async def main():
    client = RelayClient(project=job["project"], token=job["token"], host=job["host"], contexts=["office"])
    await client.connect()
    message = await client.send_message(
        to_number=job["to"], from_number=job["from"], body="sent by signalwire-sdk 3", context="office")
    await message.wait(timeout=30)
    print(json.dumps({"id": message.message_id, "state": message.state, "protocol": client.relay_protocol}))
    await client.disconnect()

asyncio.run(main())
"""

REST_CLIENT_3X = r"""
import json, sys, time
from signalwire.rest import RestClient

job = json.load(sys.stdin)
client = RestClient(project=job["project"], token=job["token"], host=job["host"])
sent = client.messages.create(to=job["to"], from_=job["from"], body="sent by signalwire-sdk 3 REST",
                              custom_variables={"order": "12345"})
deadline = time.monotonic() + 30
while (log := client.logs.messages.get(sent["id"]))["status"] not in ("delivered", "undelivered", "failed"):
    assert time.monotonic() < deadline, log
    time.sleep(0.1)
listed = [entry["id"] for entry in client.logs.messages.paginate(page_size=1)]
print(json.dumps({"created": sent, "log": log, "listed": listed}))
"""


def job(sandbox, host, to="+15550001001"):
    c = sandbox.config
    return {
        "project": c.signalwire_project,
        "token": c.signalwire_token,
        "host": host,
        "from": SENDER,
        "to": to,
    }


def sent_messages(sandbox):
    return httpx.get(f"{sandbox.url}/_sandbox/messages", verify=False).json()["messages"]


@pytest.mark.official_sdk("signalwire2")
def test_the_2x_relay_consumer_sends_over_blade_and_sees_delivered(official_sdk):
    with SandboxServer(FAST) as sandbox:
        host = sandbox.url.replace("http://", "ws://")
        lines = official_sdk.run(CONSUMER_2X, stdin=job(sandbox, host), timeout=90).splitlines()
        (message,) = sent_messages(sandbox)
    events = [json.loads(line) for line in lines if line.startswith("{")]
    assert events[0] == {"successful": True, "message_id": message["sid"]}
    assert [e["state"] for e in events[1:] if e["id"] == message["sid"]][-1] == "delivered"
    assert (message["relay_framing"], message["relay_context"], message["status"]) == (
        "blade",
        "office",
        "delivered",
    )


@pytest.mark.official_sdk("signalwire3")
def test_the_3x_relay_client_sends_over_the_current_framing_and_sees_delivered(official_sdk, tls_files):
    config = replace(FAST, tls_certfile=tls_files["cert"], tls_keyfile=tls_files["key"])
    with SandboxServer(config) as sandbox:
        host = sandbox.url.removeprefix("https://")  # the SDK builds wss://{host} itself
        out = official_sdk.run(RELAY_CLIENT_3X, stdin=job(sandbox, host), timeout=90,
                               env={"SIGNALWIRE_RELAY_CA_FILE": tls_files["ca"]})  # fmt: skip
        (message,) = sent_messages(sandbox)
    result = json.loads(out.strip().splitlines()[-1])
    assert (result["id"], result["state"]) == (message["sid"], "delivered")
    assert result["protocol"].startswith("signalwire_") and message["relay_framing"] == "signalwire"


@pytest.mark.official_sdk("signalwire3")
def test_the_3x_rest_client_sends_natively_and_reads_delivered_in_the_logs(official_sdk):
    with SandboxServer(FAST) as sandbox:
        host = sandbox.url.removeprefix("http://")  # a loopback host: the SDK speaks http to it
        result = json.loads(official_sdk.run(REST_CLIENT_3X, stdin=job(sandbox, host), timeout=90))
        (message,) = sent_messages(sandbox)
    created, log = result["created"], result["log"]
    assert (created["id"], created["status"], log["status"]) == (message["sid"], "queued", "delivered")
    assert result["listed"] == [message["sid"]] and message["payload"]["custom_variables"] == {
        "order": "12345"
    }
