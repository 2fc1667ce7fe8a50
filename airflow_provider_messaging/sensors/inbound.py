"""Wait for a reply: an inbound message from given numbers, optionally matching a pattern.

Messages arrive through the webhook receiver (WhatsApp webhooks, SignalWire inbound SMS webhooks)
into the status store; the sensor reads the store. Only messages received after the sensor
started count, so an old "YES" never approves a new question.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue, conf

from ..core.inbound import InboundFilter, compile_pattern
from .delivery import TRIGGER_TIMEOUT_GRACE

if TYPE_CHECKING:
    from airflow.sdk import Context

    from ..store.store import MessageStore


class MessageReceivedSensor(BaseSensorOperator):
    """Succeeds with the first matching inbound message (XCom: the message as a dict).

    :param service: ``"whatsapp"`` or ``"signalwire"`` (the subclasses set it).
    :param from_numbers: the sender(s) to wait for, E.164 (WhatsApp: or user ids); empty: anyone.
    :param pattern: a regular expression the (stripped) text must match, case-insensitive,
        e.g. ``^(yes|approve)$``; ``None``: any text.
    :param store_url: SQLAlchemy URL of the status store (default ``[messaging] store_url``).
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``).
    :param poll_interval: seconds between looks in deferrable mode.
    """

    template_fields: Sequence[str] = ("from_numbers", "pattern")
    ui_color = "#e8f0fe"
    service = ""

    def __init__(
        self,
        *,
        from_numbers: str | Sequence[str] | None = None,
        pattern: str | None = None,
        store_url: str | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = 2.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if pattern and "{{" not in pattern:
            compile_pattern(pattern)  # a broken pattern fails at DAG parse time
        self.from_numbers = from_numbers
        self.pattern = pattern
        self.store_url = store_url
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self._since: float | None = None

    def since(self, context: Context) -> float:
        """When this wait began: the first try's start (reschedule mode keeps it), else now."""
        if self._since is None:
            ti = context.get("ti") if context else None
            started = None
            if ti is not None:
                first = getattr(ti, "get_first_reschedule_date", None)
                started = first(context) if first else None
                started = started or getattr(ti, "start_date", None)
            self._since = started.timestamp() if started is not None else time.time()
        return self._since

    def parse_sender(self, value: object, field: str) -> str:
        """One entry of ``from_numbers``, checked: an E.164 number."""
        from ..core.phone import normalize_e164

        return normalize_e164(value, field)

    def _filter(self) -> InboundFilter:
        from ..task_errors import fail_permanently_on_permanent_errors

        with fail_permanently_on_permanent_errors():
            return InboundFilter.of(self.from_numbers, self.pattern, self.parse_sender)

    @cached_property
    def store(self) -> MessageStore:
        from ..store.store import MessageStore

        return MessageStore(self.store_url)

    def poke(self, context: Context) -> PokeReturnValue:
        message_filter = self._filter()
        messages = self.store.inbound_since(
            self.service, since=self.since(context), senders=message_filter.store_senders() or None
        )
        found = message_filter.first(messages)
        if found is None:
            return PokeReturnValue(is_done=False)
        self.log.info("Received from %s: %r", found.sender, (found.text or "")[:200])
        return PokeReturnValue(is_done=True, xcom_value=found.as_dict())

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        first = self.poke(context)
        if first.is_done:
            return first.xcom_value
        from ..triggers.inbound import InboundMessageTrigger

        message_filter = self._filter()
        self.defer(
            trigger=InboundMessageTrigger(
                service=self.service, since=self.since(context), from_numbers=message_filter.senders,
                pattern=message_filter.pattern, store_url=self.store_url, poll_interval=self.poll_interval,
                timeout_at=time.time() + self.timeout,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout + TRIGGER_TIMEOUT_GRACE),
        )  # fmt: skip

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowSensorTimeout

        if event.get("status") != "success":
            raise AirflowSensorTimeout(f"No matching reply: {event.get('message')}")
        message: dict[str, Any] = event["message"]
        self.log.info("Received from %s: %r", message.get("from"), (message.get("text") or "")[:200])
        return message


class WhatsAppMessageReceivedSensor(MessageReceivedSensor):
    """Wait for a WhatsApp message from given senders (e.g. an approver's "YES").

    ``from_numbers`` takes phone numbers and business-scoped user ids alike (a user who hides
    their number behind a username writes as ``US.13491208655302741918``). The result also has
    the sender's ``user_id`` and ``username`` when Meta gives them, and for a file its ``media``
    (``id``, ``mime_type``, ``sha256``, ``filename``): ``WhatsAppHook().download_media(id, path)``
    fetches it.
    """

    service = "whatsapp"

    def parse_sender(self, value: object, field: str) -> str:
        from ..whatsapp.recipients import whatsapp_recipient

        return whatsapp_recipient(value, field)


class SignalWireMessageReceivedSensor(MessageReceivedSensor):
    """Wait for an SMS to your SignalWire number from given numbers.

    By default the reply comes through the inbound SMS webhook (the receiver writes it to the
    store). With ``relay_context`` the sensor listens on a Relay connection for ``messaging.receive``
    events on that context instead (and writes what arrives to the store): deferred, the triggerer
    holds the connection; in poke mode the task does (``mode="reschedule"`` would drop it, so it
    is refused).

    :param relay_context: the Relay context your number's inbound messages go to.
    :param signalwire_conn_id: the SignalWire connection (for Relay).
    """

    service = "signalwire"

    def __init__(
        self,
        *,
        relay_context: str | None = None,
        signalwire_conn_id: str = "signalwire_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if relay_context and self.mode == "reschedule" and not self.deferrable:
            raise ValueError(
                "relay_context needs a connection held for the whole wait: use deferrable=True or mode='poke'"
            )
        self.relay_context = relay_context
        self.signalwire_conn_id = signalwire_conn_id

    def execute(self, context: Context) -> Any:
        if not self.relay_context:
            return super().execute(context)
        from ..hooks.signalwire import SignalWireHook

        if self.deferrable:
            from ..triggers.inbound import RelayInboundTrigger

            message_filter = self._filter()
            self.defer(
                trigger=RelayInboundTrigger(
                    signalwire_conn_id=self.signalwire_conn_id, context=self.relay_context,
                    from_numbers=message_filter.senders, pattern=message_filter.pattern,
                    store_url=self.store_url, timeout_at=time.time() + self.timeout,
                ),
                method_name="execute_complete",
                timeout=timedelta(seconds=self.timeout + TRIGGER_TIMEOUT_GRACE),
            )  # fmt: skip
        self.since(context)
        hook = SignalWireHook(signalwire_conn_id=self.signalwire_conn_id)
        relay = hook.get_relay_client(
            [self.relay_context], on_receive=lambda m: self.store.record_inbound(m.as_inbound())
        )
        with relay:  # pokes read the store, where the Relay callback writes what arrives
            return super().execute(context)
