"""Send SMS/MMS through SignalWire's Compatibility REST API as an Airflow task."""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from ..hooks.signalwire import SignalWireHook
from .recipient_loop import send_to_each

if TYPE_CHECKING:
    from airflow.sdk import Context

    from ..clients.signalwire_relay import RelayMessage
    from ..clients.signalwire_rest import SignalWireMessage


class SignalWireSendMessageOperator(BaseOperator):
    """Send one SMS/MMS to one or several recipients and return the message ids.

    Everything is validated before the first request: every recipient (E.164), the sender, the
    body (at most 1,600 characters) and the media (at most 8 http(s) URLs). The return value (XCom
    ``return_value``) is the list of message ids, ready for
    :class:`~airflow_provider_messaging.sensors.signalwire.SignalWireMessageSensor`; XCom
    ``messages`` holds one summary per recipient.

    A recipient the service refuses (e.g. it replied STOP) does not stop the others; the task then
    fails without retry, naming who was refused. If a failure leaves some recipients sent and
    others not, the task also fails without retry, so that a retry never texts anyone twice.

    :param to: a phone number in E.164 form, a comma-separated string or a list of them.
    :param body: the text (up to 1,600 characters). Required unless ``media_urls`` is given.
    :param media_urls: up to 8 public http(s) URLs; makes the message an MMS.
    :param from_number: the sender; defaults to the connection's "Default From number".
    :param status_callback: URL that SignalWire calls on every status change.
    :param signalwire_conn_id: the SignalWire connection to use.
    :param on_unknown: ``"skip"`` (default) or ``"resend"`` a recipient whose send an earlier try
        lost track of (request sent, no answer).
    :param force_resend: send again to recipients an earlier try of this task already sent to.
    :param api: ``"rest"`` (default: the Compatibility REST API) or ``"relay"`` (Relay v2 over
        WebSocket: ``messaging.send`` with ``context`` and ``tags``; the state events seen while
        the task runs are written to the status store, where the store-backed sensors read them).
    :param context: the Relay context (default: the connection's context); ``api="relay"`` only.
    :param tags: Relay tags, e.g. ``["dag:nightly"]``; ``api="relay"`` only.
    :param wait_for_states: with ``api="relay"``, seconds to keep listening for state events after
        the last send before closing (default 2).
    """

    template_fields: Sequence[str] = (
        "to",
        "body",
        "media_urls",
        "from_number",
        "status_callback",
        "signalwire_conn_id",
        "context",
        "tags",
    )
    template_fields_renderers = {"body": "txt"}
    ui_color = "#f0e4ec"

    def __init__(
        self,
        *,
        to: str | Sequence[str],
        body: str | None = None,
        media_urls: Sequence[str] | None = None,
        from_number: str | None = None,
        status_callback: str | None = None,
        signalwire_conn_id: str = SignalWireHook.default_conn_name,
        on_unknown: str = "skip",
        force_resend: bool = False,
        api: str = "rest",
        context: str | None = None,
        tags: Sequence[str] = (),
        wait_for_states: float = 2.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if api not in ("rest", "relay"):
            raise ValueError(f"api must be 'rest' or 'relay', got {api!r}")
        self.api = api
        self.context = context
        self.tags = tags
        self.wait_for_states = wait_for_states
        self.on_unknown = on_unknown
        self.force_resend = force_resend
        self.to = to
        self.body = body
        self.media_urls = media_urls
        self.from_number = from_number
        self.status_callback = status_callback
        self.signalwire_conn_id = signalwire_conn_id

    @cached_property
    def hook(self) -> SignalWireHook:
        return SignalWireHook(signalwire_conn_id=self.signalwire_conn_id)

    def execute(self, context: Context) -> list[str]:
        from ..task_errors import fail_permanently_on_permanent_errors

        with fail_permanently_on_permanent_errors():
            try:
                return self._send_all(context)
            finally:
                self.hook.close()

    def _send_all(self, context: Context) -> list[str]:
        from ..core.errors import ConfigurationError
        from ..core.phone import normalize_e164, normalize_recipients
        from ..core.sms import segment_count, validate_content
        from ..tracking.ledger import open_ledger

        recipients = normalize_recipients(self.to, "to")
        body, media = validate_content(self.body, self.media_urls)
        sender = self.from_number or self.hook.settings.from_number
        if not sender:
            raise ConfigurationError(
                "from_number: no sender given. Pass from_number= or set 'Default From number' on connection "
                f"{self.signalwire_conn_id!r}."
            )
        sender = normalize_e164(sender, "from_number")
        if body is not None:
            self.log.info("Body: %d characters, %d segment(s) per SMS", len(body), segment_count(body))

        relay = None
        if self.api == "relay":
            relay = RelaySession(self.hook, self.context or self.hook.settings.context, self.tags, self.log)

        def send_one(recipient: str) -> SignalWireMessage:
            if relay is not None:
                message = relay.send(recipient, sender, body, media)
            else:
                message = self.hook.client.create_message(
                    recipient, sender, body, media, self.status_callback
                )
            self.log.info("Sent to %s: sid=%s status=%s", recipient, message.sid, message.status)
            return message

        ledger = open_ledger(
            context,
            "signalwire",
            {"from": sender, "body": body, "media": media},
            force_resend=self.force_resend,
            on_unknown=self.on_unknown,
        )
        try:
            outcome = send_to_each(
                recipients,
                send_one,
                lambda message: message.sid,
                self.log,
                lambda sent: self._push_summary(context, sent),
                ledger,
            )
        finally:
            if relay is not None:
                relay.close(self.wait_for_states)
        self._push_summary(context, outcome.sent)
        outcome.raise_for_refused(len(recipients))
        return [message.sid for message in outcome.sent] + [mid for _, mid in outcome.already_sent if mid]

    def _push_summary(self, context: Context, sent: list[SignalWireMessage]) -> None:
        ti = context.get("ti") if context else None
        if ti is not None:
            ti.xcom_push(key="messages", value=[m.as_dict() for m in sent])


class RelaySession:
    """Sends over Relay for one task run; the state events it sees go to the status store."""

    FINAL = frozenset({"delivered", "undelivered", "failed"})

    def __init__(self, hook: SignalWireHook, context: str, tags: Sequence[str], log: Any) -> None:
        from ..tracking.store import MessageStore

        self.context, self.tags, self.log = context, list(tags), log
        self.store = MessageStore()
        self.states: dict[str, str] = {}  # message id -> last state seen
        self.sent: list[str] = []
        self.client = hook.get_relay_client([context], on_state=self._on_state).connect()
        log.info("Relay connected (context %r, protocol %s)", context, self.client.protocol)

    def _on_state(self, message: RelayMessage) -> None:
        self.states[message.message_id] = message.state
        self.store.record_status(message.as_status_event())

    def send(self, to: str, sender: str, body: str | None, media: Sequence[str]) -> SignalWireMessage:
        from ..clients.signalwire_rest import SignalWireMessage
        from ..core.errors import PermanentError

        result = self.client.send(self.context, to, sender, body, media, self.tags)
        if not result.successful or not result.message_id:
            raise PermanentError(
                f"SignalWire Relay refused the message to {to}: {result.code} {result.message}",
                service="signalwire",
                code=result.code,
            )
        self.sent.append(result.message_id)
        return SignalWireMessage(sid=result.message_id, status="queued", to=to, from_number=sender, body=body)

    def close(self, wait: float) -> None:
        """Listen a little longer for state events (until every sent message is final), then close."""
        deadline = time.monotonic() + wait
        # by sent id: a message's first event may not have arrived yet
        while time.monotonic() < deadline and any(self.states.get(i) not in self.FINAL for i in self.sent):
            time.sleep(0.05)
        self.client.close()
        self.log.info("Relay states seen: %s", self.states)
        self.store.dispose()
