"""Inbound messages as message queues: ``MessageQueueTrigger(scheme="whatsapp" | "signalwire")``."""

from __future__ import annotations

import asyncio
import time

import pytest
from airflow.providers.common.messaging.triggers.msg_queue import MessageQueueTrigger
from airflow.sdk import Asset, AssetWatcher

from airflow_provider_messaging.core.events import InboundMessage
from airflow_provider_messaging.store.store import MessageStore
from airflow_provider_messaging.triggers.message_queue import (
    SignalWireMessageQueueTrigger,
    WhatsAppMessageQueueTrigger,
)


def test_each_scheme_serializes_to_its_services_trigger():
    whatsapp = MessageQueueTrigger(scheme="whatsapp", pattern="^deploy", from_numbers=["+15550002001"])
    path, kwargs = whatsapp.serialize()
    assert path == "airflow_provider_messaging.triggers.message_queue.WhatsAppMessageQueueTrigger"
    assert kwargs["service"] == "whatsapp" and kwargs["pattern"] == "^deploy"
    assert WhatsAppMessageQueueTrigger(**kwargs).serialize() == (path, kwargs)  # as the triggerer rebuilds it
    path, kwargs = MessageQueueTrigger(scheme="signalwire", relay_context="office").serialize()
    assert path.endswith("SignalWireMessageQueueTrigger") and kwargs["relay_context"] == "office"
    with pytest.raises(ValueError, match="watches 'signalwire' messages, not 'whatsapp'"):
        SignalWireMessageQueueTrigger(service="whatsapp")


def test_one_run_per_matching_inbound_message(tmp_path):
    url = f"sqlite:///{tmp_path / 'queue.db'}"
    store = MessageStore(url)
    trigger = MessageQueueTrigger(scheme="whatsapp", pattern=r"^deploy\b", store_url=url, poll_interval=0.05)
    Asset("deploy_requests", watchers=[AssetWatcher(name="deploy_requests", trigger=trigger)])

    def arrive(message_id: str, text: str) -> None:
        store.record_inbound(
            InboundMessage("whatsapp", message_id, "15550002007", None, "text", text, time.time())
        )

    async def collect() -> list[dict]:
        events: list[dict] = []

        async def consume() -> None:
            async for event in trigger.run():
                events.append(event.payload)

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.3)
        await asyncio.to_thread(arrive, "wamid.1", "deploy now")
        await asyncio.to_thread(arrive, "wamid.2", "what is deployed?")
        await asyncio.sleep(1.0)
        task.cancel()
        return events

    events = asyncio.run(collect())
    store.dispose()
    assert [(e["id"], e["text"]) for e in events] == [("wamid.1", "deploy now")]
