"""Waiting for replies over loopback: sandbox -> signed webhook -> receiver -> store -> sensor/trigger."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlencode

import httpx
import pytest
from airflow.sdk import Asset, AssetWatcher

from airflow_provider_messaging.core.errors import ValidationError
from airflow_provider_messaging.sensors.inbound import (
    SignalWireMessageReceivedSensor,
    WhatsAppMessageReceivedSensor,
)
from airflow_provider_messaging.signalwire.webhooks import form_signature as signalwire_form_signature
from airflow_provider_messaging.store.store import MessageStore
from airflow_provider_messaging.triggers.inbound import InboundMessageEventTrigger, InboundMessageTrigger
from airflow_provider_messaging.webhooks.receiver import create_webhook_app
from messaging_sandbox.server import BackgroundServer
from tests.webhook_credentials import resolver, signalwire, whatsapp

pytestmark = pytest.mark.integration
APPROVER = "+15550002001"


@pytest.fixture
def receiver(sandbox, tmp_path):
    c = sandbox.config
    store_url = f"sqlite:///{tmp_path / 'inbound.db'}"
    store = MessageStore(store_url)
    secrets = {
        "whatsapp_default": whatsapp(c.whatsapp_app_secret),
        "signalwire_default": signalwire(c.signing_key),
    }
    with BackgroundServer(create_webhook_app(store=store, credentials=resolver(secrets))) as server:
        httpx.post(f"{sandbox.url}/_sandbox/reset").raise_for_status()
        httpx.put(f"{sandbox.url}/_sandbox/whatsapp/webhook-url",
                  json={"url": f"{server.url}/whatsapp/whatsapp_default"})  # fmt: skip
        yield {"sandbox": sandbox, "url": server.url, "store": store, "store_url": store_url}
        httpx.put(f"{sandbox.url}/_sandbox/whatsapp/webhook-url", json={"url": None})
    store.dispose()


def whatsapp_reply(env, sender, text):
    httpx.post(
        f"{env['sandbox'].url}/_sandbox/whatsapp/inbound", json={"from": sender, "text": text}
    ).raise_for_status()


def sms_reply(env, sender, text, sid):
    """An inbound SMS webhook as SignalWire posts it, signed with the project's signing key."""
    url = f"{env['url']}/signalwire/signalwire_default"
    params = [("MessageSid", sid), ("SmsStatus", "received"), ("From", sender), ("To", "+15551230001"),
              ("Body", text), ("NumMedia", "0")]  # fmt: skip
    signature = signalwire_form_signature(env["sandbox"].config.signing_key, url, params)
    httpx.post(url, content=urlencode(params), headers={
        "Content-Type": "application/x-www-form-urlencoded", "X-SignalWire-Signature": signature,
    }).raise_for_status()  # fmt: skip


def poke_until(sensor, attempts=200):
    for _ in range(attempts):
        result = sensor.poke({})
        if result.is_done:
            return result.xcom_value
        time.sleep(0.02)
    return None


def test_whatsapp_sensor_returns_the_approvers_yes_and_ignores_the_rest(receiver):
    whatsapp_reply(receiver, APPROVER, "yes")  # before the wait began: must not count
    time.sleep(0.3)
    sensor = WhatsAppMessageReceivedSensor(
        task_id="wait_for_yes",
        from_numbers=[APPROVER],
        pattern=r"^(yes|approve)$",
        store_url=receiver["store_url"],
    )
    assert sensor.poke({}).is_done is False
    whatsapp_reply(receiver, "+15550002009", "yes")  # someone else
    whatsapp_reply(receiver, APPROVER, "maybe later")  # does not match
    time.sleep(0.3)
    assert sensor.poke({}).is_done is False
    whatsapp_reply(receiver, APPROVER, "  Approve ")
    message = poke_until(sensor)
    assert message is not None and message["text"] == "  Approve " and message["from"] == APPROVER.lstrip("+")


def test_signalwire_sensor_reads_inbound_sms_webhooks(receiver):
    sensor = SignalWireMessageReceivedSensor(task_id="wait", from_numbers="+15550001001", pattern="^yes",
                                             store_url=receiver["store_url"])  # fmt: skip
    assert sensor.poke({}).is_done is False
    sms_reply(receiver, "+15550001001", "YES please", "SM-in-1")
    message = poke_until(sensor)
    assert message["id"] == "SM-in-1" and message["text"] == "YES please"


def test_deferred_wait_fires_on_the_reply_and_times_out_without_one(receiver):
    since = time.time()
    trigger = InboundMessageTrigger(service="whatsapp", since=since, from_numbers=[APPROVER], pattern="^yes$",
                                    store_url=receiver["store_url"], poll_interval=0.05)  # fmt: skip
    path, kwargs = trigger.serialize()
    assert path.endswith("InboundMessageTrigger") and kwargs["from_numbers"] == [APPROVER]

    async def wait_then_reply():
        first = asyncio.create_task(trigger.run().__anext__())
        await asyncio.sleep(0.3)
        assert not first.done()
        await asyncio.to_thread(whatsapp_reply, receiver, APPROVER, "YES")
        return (await asyncio.wait_for(first, 20)).payload

    event = asyncio.run(wait_then_reply())
    assert event["status"] == "success" and event["message"]["text"] == "YES"
    late = InboundMessageTrigger(service="whatsapp", since=time.time(), from_numbers=[APPROVER],
                                 store_url=receiver["store_url"], poll_interval=0.05, timeout_at=time.time() + 0.2)  # fmt: skip
    assert asyncio.run(late.run().__anext__()).payload["status"] == "timeout"


def test_an_injected_inbound_message_yields_exactly_one_event(receiver):
    trigger = InboundMessageEventTrigger(service="whatsapp", from_numbers=[APPROVER], store_url=receiver["store_url"],
                                         poll_interval=0.05)  # fmt: skip
    asset = Asset("whatsapp_inbound", watchers=[AssetWatcher(name="replies", trigger=trigger)])
    assert asset.watchers[0].trigger is trigger  # accepted as an event trigger

    async def collect():
        events = []

        async def consume():
            async for event in trigger.run():
                events.append(event.payload)

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.3)
        await asyncio.to_thread(whatsapp_reply, receiver, APPROVER, "hello")
        await asyncio.sleep(1.5)  # many polls, each looking back over the same message
        task.cancel()
        return events

    events = asyncio.run(collect())
    assert len(events) == 1 and events[0]["text"] == "hello" and events[0]["id"].startswith("wamid.")


def test_a_broken_pattern_fails_when_the_dag_is_parsed():
    with pytest.raises(ValidationError, match="pattern"):
        WhatsAppMessageReceivedSensor(task_id="x", from_numbers=[APPROVER], pattern="(yes")
