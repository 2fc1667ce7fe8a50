"""Wait until WhatsApp messages are delivered or read, as reported by status webhooks."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from .delivery import DeliverySensor

if TYPE_CHECKING:
    from ..core.delivery import Observation
    from ..store.store import MessageStore
    from ..triggers.delivery import DeliveryTrigger


class WhatsAppMessageSensor(DeliverySensor):
    """Gate a pipeline on WhatsApp delivery, reading the status store the webhook receiver fills.

    WhatsApp has no dependable status poll: states arrive only by webhook. Run the receiver (it is
    mounted in ``airflow api-server`` at ``/messaging/whatsapp/<conn_id>``, or run
    ``airflow-messaging webhooks``) and point both at the same ``[messaging] store_url``.

    A user who turned read receipts off never produces ``read``; ``delivered`` or ``read`` is the
    default success. A message that reached any of a user's devices counts as delivered even if
    another device failed.

    :param message_ids: one wamid or a list (e.g. the XCom of a WhatsApp send operator).
    :param success_states: default ``delivered`` and ``read``.
    :param failure_states: default ``failed``.
    :param store_url: SQLAlchemy URL of the status store (default ``[messaging] store_url``).
    :param poll_interval: deferrable mode: seconds between full re-reads of the store (default
        60). A status landing in the store wakes the gate within about half a second anyway: one
        watcher per triggerer looks for changes for every waiting gate.
    """

    template_fields: Sequence[str] = ("message_ids", "send_report")
    ui_color = "#dcf8c6"

    def __init__(
        self,
        *,
        message_ids: str | Sequence[str],
        success_states: Sequence[str] = ("delivered", "read"),
        failure_states: Sequence[str] = ("failed",),
        store_url: str | None = None,
        poll_interval: float = 60.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            poll_interval=poll_interval,
            message_ids=message_ids,
            success_states=success_states,
            failure_states=failure_states,
            **kwargs,
        )
        self.store_url = store_url

    @cached_property
    def store(self) -> MessageStore:
        from ..store.store import MessageStore

        return MessageStore(self.store_url)

    def trigger(self, message_ids: list[str], timeout_at: float | None) -> DeliveryTrigger:
        from ..triggers.delivery import StoreStatusTrigger

        return StoreStatusTrigger(
            service="whatsapp",
            store_url=self.store_url,
            **self.trigger_kwargs(message_ids, timeout_at),
        )

    def observe(self, pending: list[str]) -> dict[str, Observation]:
        return self.store.get_statuses("whatsapp", pending)

    def receiver_store(self) -> tuple[str, MessageStore] | None:
        return "whatsapp", self.store
