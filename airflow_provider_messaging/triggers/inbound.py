"""Waiting for inbound messages in the triggerer: one reply for a sensor, or every message for an
``AssetWatcher`` so that an inbound message starts a DAG run.

They read the status store the webhook receiver fills (WhatsApp messages, SignalWire inbound SMS)
off the event loop, or listen on a SignalWire Relay connection; all serialize to plain data (no
secrets).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from airflow.triggers.base import BaseEventTrigger, BaseTrigger, TriggerEvent

from ..core.inbound import InboundFilter


async def _read_inbound(
    store_url: str | None, service: str, since: float, message_filter: InboundFilter
) -> list[Any]:
    from ..store.watcher import shared_store

    store = shared_store(store_url)
    senders = message_filter.store_senders() or None
    return await asyncio.to_thread(store.inbound_since, service, since=since, senders=senders)


@asynccontextmanager
async def relay_inbound(signalwire_conn_id: str, context: str) -> AsyncIterator[asyncio.Queue[Any]]:
    """A Relay connection subscribed to ``context``; its inbound messages arrive on the queue.

    The client runs in its own threads; its callback hands each message to this event loop.
    """
    from ..hooks.signalwire import SignalWireHook

    loop = asyncio.get_running_loop()
    arrived: asyncio.Queue[Any] = asyncio.Queue()

    def hand_over(message: Any) -> None:  # called on the Relay reader thread
        loop.call_soon_threadsafe(arrived.put_nowait, message)

    hook = SignalWireHook(signalwire_conn_id=signalwire_conn_id)
    await hook.aget_credentials()
    client = hook.get_relay_client([context], on_receive=hand_over)
    await asyncio.to_thread(client.connect)
    try:
        yield arrived
    finally:
        await asyncio.to_thread(client.close)


class InboundMessageTrigger(BaseTrigger):
    """Fires once, with the first matching message received after ``since`` (epoch seconds)."""

    def __init__(
        self,
        *,
        service: str,
        since: float,
        from_numbers: Sequence[str] = (),
        pattern: str | None = None,
        store_url: str | None = None,
        poll_interval: float = 2.0,
        timeout_at: float | None = None,
    ) -> None:
        super().__init__()
        self.service, self.since, self.from_numbers = service, since, list(from_numbers)
        self.pattern, self.store_url, self.poll_interval, self.timeout_at = (
            pattern,
            store_url,
            poll_interval,
            timeout_at,
        )

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "service": self.service, "since": self.since, "from_numbers": self.from_numbers,
                "pattern": self.pattern, "store_url": self.store_url, "poll_interval": self.poll_interval,
                "timeout_at": self.timeout_at,
            },
        )  # fmt: skip

    async def run(self) -> AsyncIterator[TriggerEvent]:
        message_filter = InboundFilter(tuple(self.from_numbers), self.pattern)
        while True:
            found = message_filter.first(
                await _read_inbound(self.store_url, self.service, self.since, message_filter)
            )
            if found is not None:
                yield TriggerEvent({"status": "success", "message": found.as_dict()})
                return
            left = None if self.timeout_at is None else self.timeout_at - time.time()
            if left is not None and left <= 0:
                yield TriggerEvent({"status": "timeout", "message": "no matching message arrived in time"})
                return
            await asyncio.sleep(self.poll_interval if left is None else min(self.poll_interval, left))


class InboundMessageEventTrigger(BaseEventTrigger):
    """For ``AssetWatcher``: one event per matching inbound message, for as long as it runs.

    Messages come from the status store (what the webhook receiver wrote), or, with
    ``relay_context`` (SignalWire only), from ``messaging.receive`` events on a Relay connection
    the trigger holds. Messages received before the trigger started are not replayed. The event's
    payload is the message (its ``id`` included: with several triggerers an event may come twice,
    so make the DAG idempotent on it). Errors are logged and retried, never an event.
    """

    def __init__(
        self,
        *,
        service: str,
        from_numbers: Sequence[str] = (),
        pattern: str | None = None,
        store_url: str | None = None,
        poll_interval: float = 2.0,
        relay_context: str | None = None,
        signalwire_conn_id: str = "signalwire_default",
    ) -> None:
        super().__init__()
        if relay_context and service != "signalwire":
            raise ValueError("relay_context is for service='signalwire'")
        self.service, self.from_numbers, self.pattern = service, list(from_numbers), pattern
        self.store_url, self.poll_interval = store_url, poll_interval
        self.relay_context, self.signalwire_conn_id = relay_context, signalwire_conn_id

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "service": self.service, "from_numbers": self.from_numbers, "pattern": self.pattern,
                "store_url": self.store_url, "poll_interval": self.poll_interval,
                "relay_context": self.relay_context, "signalwire_conn_id": self.signalwire_conn_id,
            },
        )  # fmt: skip

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from ..store.watcher import OVERLAP  # commits land out of order: look back a little

        message_filter = InboundFilter(tuple(self.from_numbers), self.pattern)
        if self.relay_context:
            async for event in self._relay_events(message_filter):
                yield event
            return
        since = time.time()
        seen: deque[str] = deque(maxlen=10_000)  # ids already announced within the look-back
        while True:
            try:
                messages = await _read_inbound(self.store_url, self.service, since - OVERLAP, message_filter)
            except Exception as exc:
                self.log.warning("Could not read inbound messages (%s); trying again", exc)
                await asyncio.sleep(self.poll_interval)
                continue
            for message in messages:
                if message.message_id in seen or not message_filter.matches(message):
                    continue
                seen.append(message.message_id)
                yield TriggerEvent(message.as_dict())
            await asyncio.sleep(self.poll_interval)

    async def _relay_events(self, message_filter: InboundFilter) -> AsyncIterator[TriggerEvent]:
        while True:  # the client reconnects by itself; this loop only covers a failed start
            try:
                async with relay_inbound(self.signalwire_conn_id, str(self.relay_context)) as arrived:
                    while True:
                        inbound = (await arrived.get()).as_inbound()
                        if message_filter.matches(inbound):
                            yield TriggerEvent(inbound.as_dict())
            except Exception as exc:
                self.log.warning(
                    "Relay listener for context %r failed (%s); starting again", self.relay_context, exc
                )
                await asyncio.sleep(max(self.poll_interval, 5.0))


class RelayInboundTrigger(BaseTrigger):
    """Holds a Relay connection in the triggerer and fires on the first matching inbound message.

    Each message received is also written to the status store.
    """

    def __init__(
        self,
        *,
        signalwire_conn_id: str,
        context: str,
        from_numbers: Sequence[str] = (),
        pattern: str | None = None,
        store_url: str | None = None,
        timeout_at: float | None = None,
    ) -> None:
        super().__init__()
        self.signalwire_conn_id, self.context = signalwire_conn_id, context
        self.from_numbers = list(from_numbers)
        self.pattern, self.store_url, self.timeout_at = pattern, store_url, timeout_at

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "signalwire_conn_id": self.signalwire_conn_id, "context": self.context,
                "from_numbers": self.from_numbers, "pattern": self.pattern, "store_url": self.store_url,
                "timeout_at": self.timeout_at,
            },
        )  # fmt: skip

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from ..store.watcher import shared_store

        message_filter = InboundFilter(tuple(self.from_numbers), self.pattern)
        store = shared_store(self.store_url)
        # the connection closes before the event goes out: the triggerer may drop this generator then
        async with relay_inbound(self.signalwire_conn_id, self.context) as arrived:
            while True:
                left = None if self.timeout_at is None else self.timeout_at - time.time()
                if left is not None and left <= 0:
                    event = {"status": "timeout", "message": "no matching message arrived in time"}
                    break
                try:
                    relay_message = await asyncio.wait_for(arrived.get(), left)
                except asyncio.TimeoutError:
                    continue
                inbound = relay_message.as_inbound()
                await asyncio.to_thread(store.record_inbound, inbound)
                if message_filter.matches(inbound):
                    event = {"status": "success", "message": inbound.as_dict()}
                    break
        yield TriggerEvent(event)
