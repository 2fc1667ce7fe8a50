"""Deferrable twins of the delivery sensors: the same gate and tracker, run in the triggerer.

Every trigger serializes to plain data (connection ids and states, never secrets), looks at the
pending messages every ``poll_interval`` seconds without blocking the event loop, and yields one
event: ``{"status": "success" | "failed" | "timeout", "message": ..., "report": ...}``. At
``timeout_at`` (epoch seconds) it gives the final word itself, so ``on_timeout="pass_if_sent"``
can pass a gate whose messages were sent but never got a receipt.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from ..core.delivery import DeliveryGate, DeliveryTracker, failure_summary

if TYPE_CHECKING:
    from ..core.delivery import Observation
    from ..store.liveness import Silence, SilenceWatch
    from ..store.store import MessageStore


class DeliveryTrigger(BaseTrigger):
    """Base: subclasses say how to look at pending messages (``observe``) and what to serialize."""

    def __init__(
        self,
        message_ids: Sequence[str],
        success_states: Sequence[str],
        failure_states: Sequence[str],
        poll_interval: float = 10.0,
        min_success_fraction: float = 1.0,
        timeout_at: float | None = None,
        on_timeout: str = "fail",
        send_report: dict[str, Any] | None = None,
        receiver_grace: float = 300.0,
        fail_without_receiver: bool = False,
        wait_began: float | None = None,
    ) -> None:
        super().__init__()
        self.send_report = send_report
        self.receiver_grace = receiver_grace
        self.fail_without_receiver = fail_without_receiver
        self.wait_began = wait_began if wait_began is not None else time.time()
        self.timeout_at = timeout_at
        self.on_timeout = on_timeout
        self.min_success_fraction = min_success_fraction
        self.message_ids = list(message_ids)
        self.success_states = list(success_states)
        self.failure_states = list(failure_states)
        self.poll_interval = poll_interval

    def _common_kwargs(self) -> dict[str, Any]:
        return {
            "message_ids": self.message_ids,
            "success_states": self.success_states,
            "failure_states": self.failure_states,
            "poll_interval": self.poll_interval,
            "min_success_fraction": self.min_success_fraction,
            "timeout_at": self.timeout_at,
            "on_timeout": self.on_timeout,
            "send_report": self.send_report,
            "receiver_grace": self.receiver_grace,
            "fail_without_receiver": self.fail_without_receiver,
            "wait_began": self.wait_began,
        }

    async def observe(self, pending: list[str]) -> dict[str, Observation]:
        raise NotImplementedError

    async def silence(self, tracker: DeliveryTracker) -> Silence | None:
        """Store-backed triggers: why nothing is heard, once the grace period is over (see liveness)."""
        return None

    async def pause(self, pending: list[str], seconds: float) -> dict[str, Observation] | None:
        """Wait before the next look. Store-backed triggers wake early with what changed (then no
        look is needed); ``None`` means: look again."""
        await asyncio.sleep(seconds)
        return None

    async def run(self) -> AsyncIterator[TriggerEvent]:
        gate = DeliveryGate.of(self.success_states, self.failure_states, self.min_success_fraction)
        tracker = DeliveryTracker(self.message_ids, gate, self.send_report)
        news: dict[str, Observation] | None = None
        while True:
            if news:
                tracker.update(news)
            else:
                pending = tracker.pending()
                if pending:
                    tracker.update(await self.observe(pending))
            verdict = tracker.verdict()
            if verdict.gate_failed:
                message = failure_summary(verdict.failed, tracker.total, verdict.required)
                yield TriggerEvent(
                    {"status": "failed", "message": message, "report": tracker.report(verdict)}
                )
                return
            if verdict.done:
                yield TriggerEvent({"status": "success", "report": tracker.report(verdict)})
                return
            silence = await self.silence(tracker)
            if silence is not None and silence.no_receiver and self.fail_without_receiver:
                message = f"{silence.message}. Failing now because fail_without_receiver=True"
                yield TriggerEvent(
                    {"status": "failed", "message": message, "report": tracker.report(verdict)}
                )
                return
            if silence is not None:
                self.log.warning("%s", silence.message)
            left = None if self.timeout_at is None else self.timeout_at - time.time()
            if left is not None and left <= 0:
                verdict = tracker.on_timeout(self.on_timeout == "pass_if_sent")
                yield TriggerEvent({
                    "status": "success" if verdict.passed else "timeout",
                    "message": tracker.timeout_summary(verdict),
                    "report": tracker.report(verdict),
                })  # fmt: skip
                return
            self.log.debug("Waiting for %d of %d message(s)", len(verdict.pending), len(tracker.message_ids))
            news = await self.pause(
                verdict.pending, self.poll_interval if left is None else min(self.poll_interval, left)
            )


class SignalWireMessageTrigger(DeliveryTrigger):
    """Polls SignalWire's REST API for the pending messages with the async client."""

    def __init__(self, *, signalwire_conn_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.signalwire_conn_id = signalwire_conn_id

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {**self._common_kwargs(), "signalwire_conn_id": self.signalwire_conn_id},
        )

    async def observe(self, pending: list[str]) -> dict[str, Observation]:
        from ..core.errors import TransientError
        from ..hooks.signalwire import SignalWireHook

        found: dict[str, Observation] = {}
        async with await SignalWireHook(
            signalwire_conn_id=self.signalwire_conn_id
        ).get_async_client() as client:
            for message_id in pending:
                try:
                    found[message_id] = (await client.fetch_message(message_id)).observation()
                except TransientError as exc:
                    self.log.warning("Could not fetch %s this time (%s); will look again", message_id, exc)
        return found


class StoreStatusTrigger(DeliveryTrigger):
    """Reads states from the status store that the webhook receiver fills (WhatsApp, SignalWire callbacks)."""

    def __init__(self, *, service: str, store_url: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.service = service
        self.store_url = store_url
        self._silence: SilenceWatch | None = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {**self._common_kwargs(), "service": self.service, "store_url": self.store_url},
        )

    async def observe(self, pending: list[str]) -> dict[str, Observation]:
        from ..store.watcher import shared_store

        store = shared_store(self.store_url)  # one connection pool for every trigger in this process
        # SQLAlchemy is blocking: keep it off the event loop
        return await asyncio.to_thread(store.get_statuses, self.service, pending)

    async def pause(self, pending: list[str], seconds: float) -> dict[str, Observation] | None:
        """Sleep up to ``seconds``, waking with the news as soon as the store shows a change to a
        pending message (one shared look per interval for every trigger, see ``store.watcher``);
        after ``seconds`` without news, the trigger reads its messages itself (a fallback)."""
        from ..store.watcher import StoreWatcher

        news = await StoreWatcher.shared(self.store_url, self.service).wait_for_change(pending, seconds)
        return news or None

    async def silence(self, tracker: DeliveryTracker) -> Silence | None:
        from ..store.liveness import SilenceWatch, explain_silence
        from ..store.watcher import shared_store

        if self._silence is None:
            self._silence = SilenceWatch(self.wait_began, self.receiver_grace)
        if not self._silence.due(tracker):
            return None
        store = shared_store(self.store_url)
        waited = time.time() - self.wait_began
        return await asyncio.to_thread(explain_silence, store, self.service, len(tracker.pending()), waited)


class SignalWireStoreTrigger(StoreStatusTrigger):
    """The status store for SignalWire messages, with what it lacks looked up in the message logs.

    Relay and native-API messages have no Compatibility resource, and their receipts may arrive
    while nobody listens (the Relay connection that sent them is gone, no status callback was
    set). The message logs hold every message of the project, so at each fallback look the ids
    without a final state in the store are looked up there, and what the logs say is written to
    the store for every other waiter.
    """

    def __init__(self, *, signalwire_conn_id: str, service: str = "signalwire", **kwargs: Any) -> None:
        super().__init__(service=service, **kwargs)
        self.signalwire_conn_id = signalwire_conn_id

    def serialize(self) -> tuple[str, dict[str, Any]]:
        name, kwargs = super().serialize()
        return name, {**kwargs, "signalwire_conn_id": self.signalwire_conn_id}

    async def observe(self, pending: list[str]) -> dict[str, Observation]:
        from ..store.watcher import shared_store

        found = await super().observe(pending)
        return await settle_from_logs(self.signalwire_conn_id, shared_store(self.store_url), found, pending)


async def settle_from_logs(
    signalwire_conn_id: str, store: MessageStore, observed: dict[str, Observation], pending: Sequence[str]
) -> dict[str, Observation]:
    """``observed`` (from the store), completed from the message logs for ids with no final state."""
    from ..core.retry import NO_RETRIES
    from ..core.states import MessageState
    from ..hooks.signalwire import SignalWireHook
    from ..signalwire.native import look_up

    unsettled = [i for i in pending if i not in observed or observed[i].state.rank < MessageState.FAILED.rank]
    if not unsettled:
        return observed
    hook = SignalWireHook(signalwire_conn_id=signalwire_conn_id)
    async with await hook.get_async_messaging_api(retry_policy=NO_RETRIES) as client:
        entries = await look_up(client, unsettled)
    if not entries:
        return observed
    events = [entry.as_status_event() for entry in entries.values()]
    await asyncio.to_thread(store.record_statuses, events)
    return {**observed, **await asyncio.to_thread(store.get_statuses, "signalwire", list(entries))}
