"""Send SMS/MMS through SignalWire (Compatibility REST, native Messaging API or Relay) as an Airflow task."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from ..hooks.signalwire import SignalWireHook, checked_rest_api
from .stopping import StopsSendsOnKill

if TYPE_CHECKING:
    from airflow.sdk import Context


class SignalWireSendMessageOperator(StopsSendsOnKill, BaseOperator):
    """Send one SMS/MMS to one or several recipients and return the message ids.

    Everything is validated before the first request: every recipient (E.164), the sender, the
    body (at most 1,600 characters) and the media (at most 8 http(s) URLs). The return value (XCom
    ``return_value``) is the list of message ids, ready for
    :class:`~airflow_provider_messaging.sensors.signalwire.SignalWireMessageSensor`; XCom
    ``messages`` holds one summary per recipient.

    A recipient the service refuses (e.g. it replied STOP) does not stop the others; the task then
    fails without retry, naming who was refused. Recipients left unsent by rate limits or outages
    fail the task retryably, and the retry sends only to them (the send ledger remembers who has
    the message); a send whose outcome is unknown is never resent and fails the task without retry.

    :param to: a phone number in E.164 form, a comma-separated string or a list of them.
    :param body: the text (up to 1,600 characters). Required unless ``media_urls`` is given.
    :param media_urls: up to 8 public http(s) URLs; makes the message an MMS.
    :param from_number: the sender; defaults to the connection's "Default From number".
    :param status_callback: URL that SignalWire calls on every status change (default: the
        connection's Status callback URL).
    :param signalwire_conn_id: the SignalWire connection to use.
    :param on_unknown: ``"skip"`` (default) or ``"resend"`` a recipient whose send an earlier try
        lost track of (request sent, no answer).
    :param force_resend: send again to recipients an earlier try of this task already sent to.
    :param api: ``"rest"`` (default: the Compatibility REST API), ``"native"`` (SignalWire's own
        Messaging API, ``/api/messaging/messages``, with ``custom_variables``) or ``"relay"``
        (Relay over WebSocket: ``messaging.send`` with ``context`` and ``tags``; the state events
        seen while the task runs are written to the status store). Native and Relay messages have
        no Compatibility resource: gate them with ``SignalWireMessageSensor(source="store")``,
        which reads the store and looks up what it lacks in the message logs.
    :param custom_variables: up to 20 text pairs SignalWire echoes in every status callback;
        ``api="native"`` only.
    :param context: the Relay context (default: the connection's context); ``api="relay"`` only.
    :param tags: Relay tags, e.g. ``["dag:nightly"]``; ``api="relay"`` only.
    :param relay_protocol: the Relay framing, ``"signalwire"`` or ``"blade"`` (default: the
        connection's, else ``"signalwire"``); ``api="relay"`` only.
    :param wait_for_states: with ``api="relay"``, seconds to keep listening for state events after
        the last send before closing (default 2; 0 ends the task right after the send).
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
        "custom_variables",
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
        custom_variables: dict[str, str] | None = None,
        relay_protocol: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.api = api if api == "relay" else checked_rest_api(api, custom_variables)
        self.custom_variables = custom_variables
        self.relay_protocol = relay_protocol
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
        from ..core.phone import normalize_recipients
        from ..sending import push_sent, send_each
        from ..signalwire.sender import Sms
        from ..signalwire.sms import segment_count

        recipients = normalize_recipients(self.to, "to")
        sms = Sms.checked(self.body, self.media_urls, self.from_number or self.hook.credentials.from_number,
                          self.signalwire_conn_id)  # fmt: skip
        if sms.body is not None:
            self.log.info(
                "Body: %d characters, %d segment(s) per SMS", len(sms.body), segment_count(sms.body)
            )
        store = None
        if self.api == "relay":  # the state events the Relay connection sees go to the status store
            from ..store.store import MessageStore

            store = MessageStore()

        def open_sender(concurrency: int) -> Any:
            if self.api == "native":
                return self.hook.native_sender(concurrency, self.status_callback, self.custom_variables)
            if store is None:
                return self.hook.rest_sender(concurrency, self.status_callback)
            return self.hook.relay_sender(
                self.context, self.tags, wait_for_states=self.wait_for_states, relay_protocol=self.relay_protocol,
                on_state=lambda message: store.record_status(message.as_status_event()),
            )  # fmt: skip

        try:
            report = send_each(
                context=context, service="signalwire", recipients=recipients, prepare=sms.to,
                open_sender=open_sender, on_unknown=self.on_unknown, force_resend=self.force_resend,
                publish=lambda report: push_sent(context, report), log=self.log,
            )  # fmt: skip
        finally:
            if store is not None:
                store.dispose()
        return report.message_ids
