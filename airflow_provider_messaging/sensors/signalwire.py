"""Wait until SignalWire messages reach a delivered (or failed) state."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from ..hooks.signalwire import SignalWireHook
from .delivery import DeliverySensor

if TYPE_CHECKING:
    from ..core.delivery import Observation
    from ..store.store import MessageStore
    from ..triggers.delivery import DeliveryTrigger


class SignalWireMessageSensor(DeliverySensor):
    """Gate a pipeline on the delivery of SignalWire messages, polling their status over REST.

    Succeeds when every message reached one of ``success_states`` and returns (XCom) a mapping of
    message id to its final state, status and error code. Fails without retry as soon as one
    message reaches one of ``failure_states``, naming the service's error code and what it means.

    Carriers do not always report delivery, and MMS never gets a delivery receipt: to gate MMS,
    use ``success_states=("sent",)``.

    :param message_ids: one message id or a list (e.g. the XCom of
        :class:`~airflow_provider_messaging.operators.signalwire.SignalWireSendMessageOperator`).
    :param success_states: states that count as success (``queued``, ``sent``, ``delivered``).
    :param failure_states: states that fail the task (default ``failed``, ``undelivered``).
    :param signalwire_conn_id: the SignalWire connection to use.
    :param source: ``"rest"`` (default: poll each message's Compatibility resource) or
        ``"store"``: read the status store, which status callbacks (through the webhook receiver)
        and the Relay state events seen by ``api="relay"`` sends fill, and look up in SignalWire's
        message logs every message the store shows no final state for (writing what the logs say
        to the store). Relay and native-API messages have no Compatibility resource: gate them
        with ``source="store"``; a receipt that came while nobody listened still counts.
    :param store_url: the status store for ``source="store"`` (default ``[messaging] store_url``).
    """

    template_fields: Sequence[str] = ("message_ids", "signalwire_conn_id", "send_report")
    ui_color = "#e4ecf0"

    def __init__(
        self,
        *,
        message_ids: str | Sequence[str],
        success_states: Sequence[str] = ("delivered",),
        failure_states: Sequence[str] = ("failed", "undelivered"),
        signalwire_conn_id: str = SignalWireHook.default_conn_name,
        source: str = "rest",
        store_url: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            message_ids=message_ids, success_states=success_states, failure_states=failure_states, **kwargs
        )
        if source not in ("rest", "store"):
            raise ValueError(f"source must be 'rest' or 'store', got {source!r}")
        self.signalwire_conn_id = signalwire_conn_id
        self.source = source
        self.store_url = store_url

    @cached_property
    def store(self) -> MessageStore:
        from ..store.store import MessageStore

        return MessageStore(self.store_url)

    @cached_property
    def hook(self) -> SignalWireHook:
        return SignalWireHook(signalwire_conn_id=self.signalwire_conn_id)

    def trigger(self, message_ids: list[str], timeout_at: float | None) -> DeliveryTrigger:
        from ..triggers.delivery import SignalWireMessageTrigger, SignalWireStoreTrigger

        if self.source == "store":
            return SignalWireStoreTrigger(
                signalwire_conn_id=self.signalwire_conn_id, store_url=self.store_url,
                **self.trigger_kwargs(message_ids, timeout_at),
            )  # fmt: skip

        return SignalWireMessageTrigger(
            signalwire_conn_id=self.signalwire_conn_id,
            **self.trigger_kwargs(message_ids, timeout_at),
        )

    def receiver_store(self) -> tuple[str, MessageStore] | None:
        return ("signalwire", self.store) if self.source == "store" else None

    def observe(self, pending: list[str]) -> dict[str, Observation]:
        from ..core.errors import TransientError

        if self.source == "store":
            from ..core.engine import run_blocking
            from ..triggers.delivery import settle_from_logs

            stored = self.store.get_statuses("signalwire", pending)
            return run_blocking(
                lambda: settle_from_logs(self.signalwire_conn_id, self.store, stored, pending)
            )

        found: dict[str, Observation] = {}
        for message_id in pending:
            try:
                found[message_id] = self.hook.client.fetch_message(message_id).observation()
            except TransientError as exc:
                self.log.warning("Could not fetch %s this time (%s); will look again", message_id, exc)
        return found
